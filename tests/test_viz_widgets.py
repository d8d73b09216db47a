import matplotlib.pyplot as plt
import pytest

from anotutor import theory, viz, widgets
from anotutor.data.toy1d import noisy_1d


@pytest.fixture(scope="module")
def toy():
    return noisy_1d(n_train=10, n_known=1)


def test_plot_distortions(toy):
    ds = [theory.distortion(toy.p_d, toy.p_an, g, toy.anomalous) for g in (1.0, 0.5, 0.1)]
    fig = viz.plot_distortions(toy.x, ds, toy.width, ncols=2)
    assert len(fig.axes) == 4 and "0.50" in fig.axes[1].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_distortions(toy.x, [])


def test_gamma_explorer(toy):
    box = widgets.gamma_explorer(toy.x, toy.p_d, toy.p_an, gamma=0.4, region=toy.anomalous, width=toy.width,
                                 positions=(0.1, 0.5, 1.0))
    slider = box.slider
    assert slider.description == "gamma" and slider.value == 0.4 and box.positions == [0.1, 0.4, 0.5, 1.0]
    assert slider.index == 1 and box.stack.selected_index == 1 and box.labels == ["0.10", "0.40", "0.50", "1.00"]
    pngs = [bytes(page.children[1].value) for page in box.stack.children]
    assert len(set(pngs)) == 4  # one figure per gamma, each different
    assert "gamma = 0.40" in box.texts[1] and "removed from the anomaly mode" in box.texts[1]
    assert len(widgets.gamma_explorer(toy.x, toy.p_d, toy.p_an, region=toy.anomalous).positions) == 20
    plt.close("all")
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            widgets.gamma_explorer(toy.x, toy.p_d, toy.p_an, gamma=bad)
    with pytest.raises(ValueError, match="gamma"):
        widgets.gamma_explorer(toy.x, toy.p_d, toy.p_an, positions=(0.5, 2.0))


def test_plot_gamma_curves():
    import numpy as np
    g = np.linspace(0.1, 1.0, 5)
    fig = viz.plot_gamma_curves(g, {"a": g, "b": g ** 2}, {"a": 1 - g}, mass_ref=0.1, gamma_mark=0.8)
    assert len(fig.axes) == 2 and len(fig.axes[0].get_lines()) == 4  # 2 curves, reference, mark
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "$p_{normal}$"]
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_gamma_curves(g, {}, {"a": g})


def test_plot_gan_runs(toy):
    import numpy as np
    n = toy.x.size
    run = dict(target=toy.p_d, hist=toy.p_d, d_learned=np.full(n, 0.5), d_theory=np.full(n, np.nan),
               d_equilibrium=np.full(n, 0.4))
    fig = viz.plot_gan_runs(toy.x, toy.p_d, {1.0: run, 0.5: run}, toy.width, toy.anomalous)
    assert len(fig.axes) == 4 and fig.axes[2].get_ylabel() == "$\\gamma$ = 0.5"
    assert fig.axes[1].get_ylim() == (0, 1)
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one run"):
        viz.plot_gan_runs(toy.x, toy.p_d, {})


def test_score_histograms_search_and_sweep_plots():
    import numpy as np
    import torch
    fig, ax = plt.subplots()
    viz.plot_score_histograms(ax, {"normal": torch.rand(50), "anomalous": torch.rand(40) + 1})
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == ["normal", "anomalous"]
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_score_histograms(ax, {})
    plt.close(fig)
    curves = {"a": np.linspace(3, 1, 10), "b": np.linspace(5, 4, 10)}
    snaps = {k: [torch.rand(1, 8, 8) for _ in range(3)] for k in curves}
    fig = viz.plot_search(curves, snaps, ["x", 1, 10])
    assert len(fig.axes) == 1 + 2 * 3 and fig.axes[1].get_title() == "input"
    assert len(fig.axes[0].lines) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="same labels"):
        viz.plot_search(curves, {"a": snaps["a"]}, ["x", 1, 10])
    fig, ax = plt.subplots()
    viz.plot_sweep(ax, [0.1, 0.5, 1.0], {"AUROC": [0.9, 0.8, 0.7]}, xlabel="gamma", mark=0.1)
    assert list(ax.lines[0].get_ydata()) == [0.9, 0.8, 0.7] and ax.get_xlabel() == "gamma"
    plt.close(fig)
