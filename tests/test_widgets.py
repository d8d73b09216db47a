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


def _shown(box):
    """The text and the PNG bytes of the stack page the slider's index selects (what jslink shows)."""
    page = box.stack.children[box.slider.index]
    text = page.children[0].value
    png = bytes(page.children[1].value) if len(page.children) > 1 else None
    return text, png


def _links(box):
    """The jslinks in the saved widget state (as the book saves it: every live widget) that touch ``box``."""
    from ipywidgets.embed import embed_data

    state = embed_data(views=[box])["manager_state"]["state"]
    ids = {f"IPY_MODEL_{box.slider.model_id}", f"IPY_MODEL_{box.stack.model_id}"}
    return [m["state"] for m in state.values()
            if m["model_name"] == "LinkModel" and {m["state"]["source"][0], m["state"]["target"][0]} == ids]


def _fig(k):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, k])
    return fig


def test_linked_explorer_precomputes_every_position_and_links_the_slider_to_them():
    seen = []

    def render(p):
        seen.append(p)
        return f"at {p}", _fig(p)

    w = widgets.linked_explorer([0.1, 0.25, 1.0], render, description="k", labels=["low", "mid", "high"])
    assert seen == [0.1, 0.25, 1.0]  # each position once, in order, when the widget is built
    assert w.children == (w.slider, w.stack) and len(w.stack.children) == 3
    assert w.slider.description == "k" and w.slider._options_labels == ("low", "mid", "high")
    assert w.slider.index == 1 and w.stack.selected_index == 1 and w.slider.value == 0.25  # the middle one
    assert w.texts == ["at 0.1", "at 0.25", "at 1.0"] and "at 0.25" in _shown(w)[0]
    pngs = [bytes(page.children[1].value) for page in w.stack.children]
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs) and len(set(pngs)) == 3
    assert w.nbytes == sum(map(len, pngs)) < widgets.MAX_WIDGET_BYTES
    from PIL import Image
    assert Image.open(__import__("io").BytesIO(pngs[0])).mode == "P"  # a palette PNG: small
    assert _links(w) == [{"source": [f"IPY_MODEL_{w.slider.model_id}", "index"],
                          "target": [f"IPY_MODEL_{w.stack.model_id}", "selected_index"]}]
    w.slider.value = 1.0  # in Python the slider moves; the front end moves the stack through the link
    assert w.slider.index == 2
    plt.close("all")


def test_linked_explorer_labels_start_and_text_only_pages():
    w = widgets.linked_explorer([8, 32, 128], lambda k: (f"key {k} <b>", None), value=128)
    assert w.labels == ["8", "32", "128"] and w.slider.index == 2 and w.stack.selected_index == 2
    assert len(w.stack.children[0].children) == 1 and w.nbytes == 0  # no figure, no image
    assert "key 128 &lt;b&gt;" in _shown(w)[0]  # the text is escaped, not markup
    assert widgets.linked_explorer([0.5, 0.25], lambda p: ("", None)).labels == ["0.5", "0.25"]
    one = widgets.linked_explorer(["only"], lambda p: (p, None))
    assert one.slider.index == 0 and len(one.stack.children) == 1


def test_linked_explorer_rejects_bad_inputs_clearly():
    ok = lambda p: ("", None)  # noqa: E731
    with pytest.raises(ValueError, match="at least one position"):
        widgets.linked_explorer([], ok)
    with pytest.raises(ValueError, match=r"distinct, 0.5 is both position 0 and position 2"):
        widgets.linked_explorer([0.5, 1.0, 0.5], ok)
    with pytest.raises(ValueError, match="labels must be distinct, 'a' is used twice"):
        widgets.linked_explorer([1, 2], ok, labels=["a", "a"])
    with pytest.raises(ValueError, match="1 labels for 2 positions"):
        widgets.linked_explorer([1, 2], ok, labels=["a"])
    with pytest.raises(ValueError, match="value 3 is not one of the positions"):
        widgets.linked_explorer([1, 2], ok, value=3)
    with pytest.raises(TypeError, match=r"must return \(text, figure\)"):
        widgets.linked_explorer([1, 2], lambda p: "text only")

    def fails_at_two(p):
        if p == 2:
            raise ZeroDivisionError("no figure for this one")
        return str(p), None

    with pytest.raises(RuntimeError, match=r"render failed at position 1 \('2', value 2\): "
                                           r"ZeroDivisionError: no figure for this one") as err:
        widgets.linked_explorer([1, 2, 3], fails_at_two, description="latent")
    assert "latent" in str(err.value) and isinstance(err.value.__cause__, ZeroDivisionError)


def test_tau_explorer_prints_the_metrics_of_each_threshold():
    maps, masks, images = _case()
    w = widgets.tau_explorer(maps, masks, images, tau=0.4, show=2, positions=10)
    assert w.slider.description == "tau" and 0.4 in w.positions and w.slider.value == 0.4
    assert w.positions[0] == 0.0 and w.positions[-1] == pytest.approx(float(maps.max()), abs=1e-3)
    assert len(w.stack.children) == len(w.positions) == len(set(w.positions)) >= 9
    assert w.positions == sorted(w.positions) and w.labels[w.slider.index] == "0.400"
    assert "tau = 0.400" in _shown(w)[0] and _shown(w)[1] is not None  # the figure is there
    w2 = widgets.tau_explorer(maps, masks, images, tau=0.45, show=2, positions=[0.05, 0.1])
    assert w2.positions == [0.05, 0.1, 0.45]
    assert "precision 1.000" in _shown(w2)[0] and "recall 1.000" in _shown(w2)[0]  # 0.45 separates the square
    assert "tau = 0.050" in w2.texts[0] and len({bytes(p.children[1].value) for p in w2.stack.children}) == 3
    ends = widgets.tau_explorer(maps, masks, images, tau=0.0, show=1, positions=[1.0])
    first, last = (bytes(p.children[1].value) for p in ends.stack.children)
    assert first != last  # everything predicted (tau 0) does not look like nothing predicted
    plt.close("all")


def test_tau_grid_holds_tau_and_an_even_step():
    grid = widgets.tau_grid(1.0, 0.33, n=11)
    assert 0.33 in grid and 0.3 not in grid and grid[0] == 0.0 and grid[-1] == 1.0 and len(grid) == 11
    assert widgets.tau_grid(1.0, None, n=3) == [0.0, 0.5, 1.0]


def test_choice_explorer_renders_every_choice():
    seen = []

    def render(k, v):
        seen.append((k, v))
        return f"key {k}", None

    w = widgets.choice_explorer({8: "a", 32: "b", 128: "c"}, render, "latent")
    assert seen == [(8, "a"), (32, "b"), (128, "c")]
    assert w.slider.value == 32 and "key 32" in _shown(w)[0] and len(w.stack.children) == 3
    assert _links(w)
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


def test_case_rows_frame_the_maps_with_input_and_ground_truth():
    import matplotlib.pyplot as plt
    maps = [torch.full((8, 8), 0.5)] * 3
    fig = viz.case_rows(torch.rand(3, 1, 8, 8), torch.zeros(3, 8, 8), [("map", maps, "inferno", None)],
                        titles=["a", "b", "c"])
    labels = [ax.get_ylabel() for ax in fig.axes[::3]]
    assert labels == ["input", "map", "ground truth"] and len(fig.axes) == 9
    plt.close(fig)


def test_superpixel_outlines_mark_the_borders_only():
    seg = np.zeros((6, 6), int)
    seg[:, 3:] = 1
    out = viz.superpixel_outlines(torch.full((1, 6, 6), 0.5), seg)
    assert out.shape == (6, 6, 3)
    border = (out != 0.5).any(-1)
    assert border[:, 2].all() and border[:, 3].all() and not border[:, 0].any()
    with pytest.raises(ValueError, match="do not match"):
        viz.superpixel_outlines(torch.zeros(1, 6, 6), seg[:5])


def test_pages_benchmark_weighs_each_saved_widget(tmp_path):
    """benchmarks/pages.py: a page's HTML and widget-state bytes, and per widget its models, links included."""
    import importlib.util
    import json
    from pathlib import Path

    from ipywidgets.embed import embed_data

    spec = importlib.util.spec_from_file_location("pages", Path(__file__).parents[1] / "benchmarks" / "pages.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    assert pages.LIMIT_BYTES == widgets.MAX_WIDGET_BYTES
    w = widgets.linked_explorer([1, 2, 3], lambda k: (f"k {k}", _fig(k)))
    data = embed_data(views=[w])
    state = data["manager_state"]
    (size,) = pages.widget_sizes(state, [w.model_id])
    assert size > 4 / 3 * w.nbytes  # the images, base64 in the saved state
    without_link = dict(state, state={k: m for k, m in state["state"].items() if k != w.link.model_id})
    assert pages.widget_sizes(without_link, [w.model_id])[0] < size  # the link counts
    html = (f'<html><script type="{pages.STATE_TYPE}">{json.dumps(state)}</script><body>'
            f'<script type="{pages.VIEW_TYPE}">{json.dumps(data["view_specs"][0])}</script></body></html>')
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.html").write_text(html)
    (tmp_path / "index.html").write_text("<html></html>")
    weights = pages.site_weights(tmp_path)
    assert weights["index.html"] == {"html_bytes": 13, "state_bytes": 0, "widget_bytes": []}
    row = weights["book/a.html"]
    assert row["widget_bytes"] == [size] and row["state_bytes"] >= size and row["html_bytes"] > row["state_bytes"]
    assert pages.over_limit(weights, size - 1) == [f"book/a.html: widget 1 holds {size:,} bytes of saved state "
                                                   f"(limit {size - 1:,})"]
    assert pages.over_limit(weights, size) == []
    assert pages.main(["--site", str(tmp_path), "--out", str(tmp_path), "--limit", str(size - 1)]) == 1
    assert "over the limit" in (tmp_path / "pages.md").read_text()
    assert json.loads((tmp_path / "pages.json").read_text())["pages"]["book/a.html"] == row
    assert pages.main(["--site", str(tmp_path), "--out", str(tmp_path)]) == 0
    plt.close("all")
