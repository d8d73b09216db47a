import numpy as np
import pytest
import torch

from anotutor.checks import as_images, as_labels, as_masks, as_scores, check_int, check_range


def test_as_images_accepts_valid_batches():
    x = torch.rand(2, 3, 8, 8)
    assert as_images(x) is not None and as_images(x).shape == (2, 3, 8, 8)
    assert as_images(np.random.rand(1, 1, 4, 4)).dtype == torch.float32


@pytest.mark.parametrize("bad, message", [
    (torch.rand(3, 8, 8), "add the batch axis"),
    (torch.rand(8, 8), "got 2 dimensions"),
    (torch.rand(0, 1, 8, 8), "empty"),
    (torch.rand(2, 2, 8, 8), "1 or 3 channels"),
    (torch.rand(2, 1, 8, 8) * 2, r"must lie in \[0, 1\]"),
    (torch.rand(2, 1, 8, 8) - 0.5, r"must lie in \[0, 1\]"),
    (torch.full((1, 1, 4, 4), float("nan")), "NaN"),
    (torch.full((1, 1, 4, 4), float("inf")), "infinite"),
    (torch.randint(0, 255, (1, 1, 4, 4), dtype=torch.uint8), "divide by 255"),
    ("not an image", "torch.Tensor or numpy"),
])
def test_as_images_refuses(bad, message):
    before = bad.clone() if isinstance(bad, torch.Tensor) else bad
    with pytest.raises(ValueError, match=message):
        as_images(bad)
    if isinstance(bad, torch.Tensor):  # loses nothing: the input is untouched
        assert torch.equal(bad.nan_to_num(7.0), before.nan_to_num(7.0))


def test_as_images_min_size():
    with pytest.raises(ValueError, match="at least 16x16"):
        as_images(torch.rand(1, 1, 8, 8), min_size=16)


def test_as_masks():
    m = as_masks(torch.tensor([[[0, 1], [1, 0]]], dtype=torch.bool))
    assert m.dtype == torch.float32 and m.shape == (1, 2, 2)
    assert as_masks(torch.zeros(2, 1, 3, 3)).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="binary"):
        as_masks(torch.full((1, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        as_masks(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="do not match"):
        as_masks(torch.zeros(2, 3, 3), like=torch.zeros(2, 1, 4, 4))


def test_scores_and_labels():
    assert as_scores([1, 2, 3]).dtype == np.float64
    with pytest.raises(ValueError, match="empty"):
        as_scores([])
    with pytest.raises(ValueError, match="NaN"):
        as_scores([0.1, float("nan")])
    with pytest.raises(ValueError, match="binary"):
        as_labels([0, 2], 2)
    with pytest.raises(ValueError, match="has 1 entries"):
        as_labels([0], 2)


def test_ranges():
    assert check_range(0.5, "gamma", 0, 1, low_open=True) == 0.5
    for bad in (0, -0.1, 1.5, float("nan"), "x", True):
        with pytest.raises(ValueError, match="gamma"):
            check_range(bad, "gamma", 0, 1, low_open=True)
    assert check_int(3, "latent_size") == 3
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="latent_size"):
            check_int(bad, "latent_size")


def test_rounding_off_the_range_is_clipped_and_more_is_refused_with_where():
    x = torch.full((2, 1, 4, 4), 0.5)
    x[1, 0, 2, 3] = 1.0000001           # an antialiased resize's rounding (issue 29)
    x[0, 0, 0, 0] = -3e-7
    got = as_images(x)
    assert float(got.max()) == 1.0 and float(got.min()) == 0.0 and got[0, 0, 1, 1] == 0.5
    x[1, 0, 2, 3] = 1.02
    with pytest.raises(ValueError, match=r"1\.02.*index \(1, 0, 2, 3\).*image 1"):
        as_images(x)
    x[1, 0, 2, 3] = 1.0 + 2e-6           # beyond the slack
    with pytest.raises(ValueError, match="must lie in"):
        as_images(x)
