"""Tiling for large images (anotutor.data.tiles, fit --tile; issue 41)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from anotutor.data.boards import woven_board
from anotutor.data.tiles import cut_tiles, stitch, tile_boxes
from test_cli import _error, run_cli


def test_tiles_cover_the_image_and_the_last_ones_sit_on_the_border():
    boxes = tile_boxes(1000, 700, 256, 32)
    covered = torch.zeros(1000, 700)
    for y, x, h, w in boxes:
        assert (h, w) == (256, 256) and y + h <= 1000 and x + w <= 700
        covered[y : y + h, x : x + w] += 1
    assert covered.min() >= 1
    assert max(y + h for y, _, h, _ in boxes) == 1000 and max(x + w for _, x, _, w in boxes) == 700
    assert tile_boxes(100, 300, 256) == [(0, 0, 100, 256), (0, 44, 100, 256)]   # a short side: one row
    with pytest.raises(ValueError, match="overlap"):
        tile_boxes(500, 500, 64, 40)
    with pytest.raises(ValueError, match="tile"):
        tile_boxes(500, 500, 8)


def test_stitching_gives_back_what_the_tiles_saw():
    h, w = 300, 420
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    image = torch.stack([yy * 0.5 + xx * 0.5] * 3)
    tiles, boxes = cut_tiles(image, 128, 32, 64)
    assert tiles.shape == (len(boxes), 3, 64, 64)
    back = stitch(tiles[:, 0], boxes, (h, w))               # "maps" that are the tiles themselves
    assert back.shape == (h, w) and float((back - image[0]).abs().max()) < 0.02
    assert torch.allclose(stitch(torch.full((len(boxes), 64, 64), 0.3), boxes, (h, w)), torch.full((h, w), 0.3))


def test_a_small_defect_in_a_large_image_is_found_with_tiles_and_lost_without(tmp_path, capsys):
    """A 12 px spot where a fine weave (period 6 px) is missing, at the weave's mean brightness, in a
    1,024 px image: at 224 px for the whole image the weave itself averages to that mean, so the
    spot disappears; in tiles of 256 px the weave stays and the spot is found."""
    root = tmp_path / "boards"
    (root / "train" / "good").mkdir(parents=True)
    for i in range(8):
        Image.fromarray((woven_board(seed=i) * 255).astype(np.uint8)).save(root / "train" / "good" / f"{i}.png")
    y, x = 600, 300
    board = woven_board(gap=12, at=(y, x), seed=99)                   # the weave missing: its mean, flat
    assert board[y : y + 12, x : x + 12].std() == 0 and abs(board.mean() - 0.5) < 0.01
    (tmp_path / "new").mkdir()
    Image.fromarray((board * 255).astype(np.uint8)).save(tmp_path / "new" / "board.png")
    common = ["--method", "patchcore", "--no-progress"]
    assert run_cli("fit", root, "--out", tmp_path / "tiled", "--tile", "256", "--overlap", "32", *common) == 0
    assert json.loads((tmp_path / "tiled" / "model.json").read_text())["tiling"] == {"tile": 256, "overlap": 32}
    assert run_cli("fit", root, "--out", tmp_path / "whole", *common) == 0

    import anotutor

    found = {}
    for name in ("tiled", "whole"):
        det = anotutor.load(tmp_path / name)
        (hit,) = det.score_files([tmp_path / "new" / "board.png"])
        m = hit.map
        assert m.shape == (1024, 1024)
        inside = float(m[y : y + 12, x : x + 12].max())
        outside = m.clone()
        outside[y - 24 : y + 36, x - 24 : x + 36] = 0
        found[name] = (inside / float(outside.max()), hit.verdict)
    assert found["tiled"][0] > 1.2 and found["tiled"][1] == "anomalous"      # the peak is the defect
    assert found["whole"][0] < 1.0                                          # lost among the texture's own
    assert "tile must be an integer >= 16" in _error(capsys, "fit", root, "--out", tmp_path / "bad", "--tile", "8", *common)
