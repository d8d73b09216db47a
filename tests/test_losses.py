import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from anotutor.losses import ssim, ssim_loss, ssim_map
from anotutor.ops import gaussian_window


def sk_ssim(a, b):
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    if a.shape[0] == 3:
        return structural_similarity(a.transpose(1, 2, 0), b.transpose(1, 2, 0), channel_axis=-1, **kw)
    return structural_similarity(a[0], b[0], **kw)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage(seed, channels):
    rng = np.random.default_rng(seed)
    a = rng.random((channels, 32, 40))
    b = np.clip(a + rng.normal(0, 0.2 * (seed + 1) / 6, a.shape), 0, 1)  # from near-identical to noisy
    ours = ssim(torch.tensor(a[None]).double(), torch.tensor(b[None]).double()).item()
    assert ours == pytest.approx(sk_ssim(a, b), abs=1e-3)
    assert abs(ours - sk_ssim(a, b)) < 1e-6  # in fact they agree to rounding


def test_ssim_properties_and_gradient():
    x = torch.rand(2, 1, 24, 24)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    y = torch.rand(2, 1, 24, 24, requires_grad=True)
    loss = ssim_loss(x, y)
    loss.backward()
    assert 0 < loss.item() < 2 and y.grad is not None and torch.isfinite(y.grad).all()
    assert ssim(x, y, reduction="none").shape == (2,)
    assert ssim_map(x, y, padding="same").shape == (2, 24, 24)
    assert ssim_map(x, y).shape == (2, 14, 14)


def test_gaussian_window():
    g = gaussian_window(11, 1.5)
    assert g.sum().item() == pytest.approx(1.0) and g.argmax().item() == 5
    with pytest.raises(ValueError, match="odd"):
        gaussian_window(10)


def test_ssim_errors():
    with pytest.raises(ValueError, match="same shape"):
        ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        ssim(torch.rand(16, 16), torch.rand(16, 16))
    with pytest.raises(ValueError, match="reduction"):
        ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), reduction="sum")
