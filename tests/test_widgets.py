import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from anotutor import viz, widgets


def _case():
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 16, 16, generator=g) * 0.2
    masks = torch.zeros(3, 16, 16)
    masks[0, 4:8, 4:8] = 1
    maps[0, 4:8, 4:8] += 0.5
    images = torch.rand(3, 1, 16, 16, generator=g)
    return maps, masks, images


def test_tau_explorer_prints_the_metrics_of_its_threshold(capsys):
    maps, masks, images = _case()
    w = widgets.tau_explorer(maps, masks, images, tau=0.4, show=2)
    slider = w.children[0]
    assert slider.description == "tau" and slider.max == pytest.approx(float(maps.max()))
    w.update()
    out = w.children[-1].outputs if hasattr(w.children[-1], "outputs") else ()
    plt.close("all")
    slider.value = 0.45
    w.update()
    text = "".join(o.get("text", "") for o in out) + capsys.readouterr().out
    assert "precision 1.000" in text and "recall 1.000" in text  # 0.45 separates the square exactly
    plt.close("all")


def test_choice_explorer_calls_draw_with_the_chosen_value():
    seen = []
    w = widgets.choice_explorer({8: "a", 32: "b", 128: "c"}, lambda k, v: seen.append((k, v)), "latent")
    w.children[0].value = 128
    w.update()
    assert seen[-1] == (128, "c")
    with pytest.raises(ValueError, match="at least one"):
        widgets.choice_explorer({}, print)


def test_static_figures_draw():
    maps, masks, images = _case()
    taus = np.linspace(0, 0.7, 30)
    from anotutor import metrics
    p, r, f = metrics.prf_curve(maps, masks, taus)
    fig, ax = plt.subplots()
    viz.plot_prf_sweep(ax, taus, p, r, f, tau_mark=0.4)
    viz.plot_losses(ax, {"l2": np.linspace(1, 0.1, 50)})
    fig2 = viz.reconstruction_figure(images, images, maps, maps > 0.4, masks, titles=["a", "b", "c"])
    assert len(fig2.axes) == 15
    with pytest.raises(ValueError, match="same"):
        viz.reconstruction_figure(images, images[:2], maps, maps, masks)
    plt.close("all")
