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
    box = widgets.gamma_explorer(toy.x, toy.p_d, toy.p_an, gamma=0.4, region=toy.anomalous, width=toy.width)
    slider = box.children[0]
    assert slider.description == "gamma" and slider.value == 0.4 and slider.max == 1.0 and slider.min > 0
    out = box.children[-1]

    def png():
        return [o["data"]["image/png"] for o in out.outputs if "image/png" in o.get("data", {})]

    before = png()
    assert len(before) == 1
    slider.value = 0.9  # redraws through the pure function: one new figure, a different one
    after = png()
    assert len(after) == 1 and after[0] != before[0]
    plt.close("all")
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            widgets.gamma_explorer(toy.x, toy.p_d, toy.p_an, gamma=bad)
