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


def _text(box):
    return "".join(o.get("text", "") for o in box.children[-1].outputs)


def test_tau_explorer_prints_the_metrics_of_its_threshold():
    maps, masks, images = _case()
    w = widgets.tau_explorer(maps, masks, images, tau=0.4, show=2)
    slider = w.children[0]
    assert slider.description == "tau" and slider.max == pytest.approx(float(maps.max()))
    assert "tau = 0.400" in _text(w)
    assert any("image/png" in o.get("data", {}) for o in w.children[-1].outputs)  # the figure is there
    slider.value = 0.45
    assert "precision 1.000" in _text(w) and "recall 1.000" in _text(w)  # 0.45 separates the square exactly
    assert "tau = 0.400" not in _text(w)  # redrawn, not appended
    plt.close("all")


def test_choice_explorer_renders_the_chosen_value():
    seen = []

    def render(k, v):
        seen.append((k, v))
        return f"key {k}", None

    w = widgets.choice_explorer({8: "a", 32: "b", 128: "c"}, render, "latent")
    assert seen[-1] == (32, "b") and "key 32" in _text(w)
    w.children[0].value = 128
    assert seen[-1] == (128, "c") and _text(w) == "key 128\n"
    with pytest.raises(ValueError, match="at least one"):
        widgets.choice_explorer({}, print)


def test_static_figures_draw():
    maps, masks, images = _case()
    taus = np.linspace(0, 0.7, 30)
    from anotutor import metrics
    p, r, f = metrics.prf_curve(maps, masks, taus)
    fig, (ax, ax2) = plt.subplots(1, 2)
    viz.plot_prf_sweep(ax, taus, p, r, f, tau_mark=0.4)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"precision", "recall", "F1", "tau = 0.400"}
    assert np.allclose(lines["F1"].get_ydata(), f) and np.allclose(lines["F1"].get_xdata(), taus)
    assert lines["tau = 0.400"].get_xdata()[0] == 0.4
    h = np.linspace(1, 0.1, 50)
    viz.plot_losses(ax2, {"l2": h}, smooth=10)
    (curve,) = ax2.get_lines()
    assert curve.get_label() == "l2" and len(curve.get_ydata()) == 41  # running mean of 10 over 50 steps
    assert np.isclose(curve.get_ydata()[0], h[:10].mean()) and ax2.get_yscale() == "log"
    fig2 = viz.reconstruction_figure(images, images, maps, maps > 0.4, masks, titles=["a", "b", "c"])
    assert len(fig2.axes) == 15
    with pytest.raises(ValueError, match="same"):
        viz.reconstruction_figure(images, images[:2], maps, maps, masks)
    plt.close("all")


def test_image_rows_share_a_scale_per_row_and_check_lengths():
    import matplotlib.pyplot as plt
    maps = [torch.zeros(8, 8), torch.full((8, 8), 0.2)]
    fig = viz.image_rows([("input", [torch.rand(1, 8, 8)] * 2, "gray", 1.0), ("map", maps, "inferno", None)],
                         titles=["a", "b"])
    axes = fig.axes
    assert axes[2].images[0].get_clim() == (0.0, pytest.approx(0.2))  # the map row: its own maximum
    assert axes[0].images[0].get_clim() == (0.0, 1.0)
    plt.close(fig)
    with pytest.raises(ValueError, match="same, non-zero"):
        viz.image_rows([("a", maps, "gray", 1.0), ("b", maps[:1], "gray", 1.0)])


def test_superpixel_outlines_mark_the_borders_only():
    seg = np.zeros((6, 6), int)
    seg[:, 3:] = 1
    out = viz.superpixel_outlines(torch.full((1, 6, 6), 0.5), seg)
    assert out.shape == (6, 6, 3)
    border = (out != 0.5).any(-1)
    assert border[:, 2].all() and border[:, 3].all() and not border[:, 0].any()
    with pytest.raises(ValueError, match="do not match"):
        viz.superpixel_outlines(torch.zeros(1, 6, 6), seg[:5])
