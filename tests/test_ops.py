"""The generic operations: one Gaussian blur, uniform noise, the parameter count."""

import pytest
import torch
from torch import nn

from anotutor.ops import count_parameters, gaussian_blur, gaussian_window, uniform


def _reference_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A direct weighted sum over the reflected neighbourhood, in float64: the definition itself."""
    k = 2 * int(round(3 * sigma)) + 1
    p = k // 2
    r = torch.arange(k, dtype=torch.float64) - p
    g = torch.exp(-r**2 / (2 * sigma**2))
    w = torch.outer(g, g) / torch.outer(g, g).sum()
    padded = torch.nn.functional.pad(x.double(), (p, p, p, p), mode="reflect")
    h, wd = x.shape[-2:]
    out = torch.zeros_like(x, dtype=torch.float64)
    for dy in range(k):
        for dx in range(k):
            out += w[dy, dx] * padded[..., dy:dy + h, dx:dx + wd]
    return out


@pytest.mark.parametrize("sigma", [0.8, 2.0, 4.0])
def test_blur_is_the_weighted_neighbourhood_sum_per_channel(sigma):
    x = torch.rand(2, 3, 30, 34, generator=torch.Generator().manual_seed(0))
    out = gaussian_blur(x, sigma)
    assert out.shape == x.shape
    assert torch.allclose(out.double(), _reference_blur(x, sigma), atol=1e-6)
    # each channel on its own: blurring one channel alone gives the same numbers
    assert torch.allclose(gaussian_blur(x[:, 1:2], sigma), out[:, 1:2], atol=1e-7)


def test_one_2d_kernel_and_two_1d_passes_agree_and_valid_padding_shrinks():
    x = torch.rand(1, 2, 25, 25, generator=torch.Generator().manual_seed(1))
    a = gaussian_blur(x, 1.5, size=11, separable=False)
    b = gaussian_blur(x, 1.5, size=11, separable=True)
    assert torch.allclose(a, b, atol=1e-6)
    assert gaussian_blur(x, 1.5, size=11, padding="valid").shape == (1, 2, 15, 15)
    small = torch.rand(1, 1, 3, 3)   # smaller than the window's half-width: replicated borders
    assert gaussian_blur(small, 2.0).shape == small.shape
    with pytest.raises(ValueError, match="padding"):
        gaussian_blur(x, 1.0, padding="zeros")
    with pytest.raises(ValueError, match="odd"):
        gaussian_window(10)


def test_uniform_noise_is_seeded_in_range_and_symmetric():
    z = uniform((20000,), 0.3, torch.Generator().manual_seed(2))
    assert z.abs().max() <= 0.3 and abs(float(z.mean())) < 0.01
    assert torch.equal(z, uniform((20000,), 0.3, torch.Generator().manual_seed(2)))
    assert abs(float(z.std()) - 0.3 / 3**0.5) < 0.005   # the standard deviation of U(-a, a)


def test_count_parameters_counts_weights_and_biases():
    assert count_parameters(nn.Conv2d(3, 4, 3)) == 4 * 3 * 9 + 4
    with pytest.raises(ValueError, match="torch.nn.Module"):
        count_parameters("not a network")
