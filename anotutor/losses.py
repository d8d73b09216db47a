r"""Losses: the structural similarity (SSIM) and the SSIM loss; GAN losses with the anomaly penalty.

SSIM compares two images through local means :math:`\mu`, variances
:math:`\sigma^2` and covariance :math:`\sigma_{xy}`, each weighted by a
Gaussian window (11 x 11, :math:`\sigma = 1.5`; Wang et al. 2004):

.. math::

   \mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                              {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
   \quad C_1 = (K_1 L)^2,\ C_2 = (K_2 L)^2 .

(Shah and Kim (2022), eq. 3, print the denominator's first factor as :math:`\mu_x^2\mu_y^2 + C_1`,
a product where Wang et al. have a sum; we follow Wang et al.)

:func:`ssim` averages the map over the positions where the whole window fits
inside the image, which is what ``skimage.metrics.structural_similarity``
does with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``;
the two agree to about 1e-6. :func:`ssim_map` can also return a map of the
input's size (reflect padding), used as a per-pixel anomaly map.

:func:`noisy_gan_d_loss` is the discriminator's :math:`-V'` of Noisy-AnoGAN
(Kimura and Yanagihara 2018, eqs. 15 to 17; the book's ``eq-vprime``), in which known anomalies count as
fakes with weight
:math:`1 - \gamma`; :func:`gan_g_loss` the generator's non-saturating loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_range
from .ops import gaussian_blur

__all__ = ["ssim_map", "ssim", "ssim_loss", "segment_loss", "noisy_gan_d_loss", "gan_g_loss"]


def _check_pair(x: torch.Tensor, y: torch.Tensor, window_size: int) -> None:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a tensor of shape [N, C, H, W], got {shape}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window_size:
        raise ValueError(
            f"images must be at least {window_size}x{window_size} for an SSIM window of "
            f"{window_size}, got {tuple(x.shape[-2:])}"
        )


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
    padding: str = "valid",
) -> torch.Tensor:
    """Per-pixel SSIM of two batches [N, C, H, W], averaged over channels: [N, H', W'].

    ``padding="valid"`` keeps only positions where the window fits (H' = H - window + 1);
    ``padding="same"`` reflects the borders so the map has the input's H x W.
    Differentiable in both arguments.
    """
    _check_pair(x, y, window_size)
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    pad = "reflect" if padding == "same" else "valid"

    def blur(t: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(t, sigma, size=window_size, padding=pad, separable=True)

    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return s.mean(dim=1)


def ssim(x: torch.Tensor, y: torch.Tensor, reduction: str = "mean", **kwargs) -> torch.Tensor:
    """Mean SSIM: a scalar (``reduction="mean"``) or one value per image (``"none"``)."""
    m = ssim_map(x, y, **kwargs)
    per_image = m.flatten(1).mean(dim=1)
    if reduction == "none":
        return per_image
    if reduction == "mean":
        return per_image.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def ssim_loss(x: torch.Tensor, y: torch.Tensor, **kwargs) -> torch.Tensor:
    """``1 - SSIM(x, y)``: 0 for identical images, up to 2 for anti-correlated ones."""
    return 1.0 - ssim(x, y, **kwargs)


# --------------------------------------------------------------------------- GAN losses
def noisy_gan_d_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, anomaly_logits: torch.Tensor | None = None, gamma: float = 1.0
) -> torch.Tensor:
    r"""The discriminator's loss :math:`-V'(D, G)` on a batch (Kimura and Yanagihara
    2018, eqs. 15 to 17):

    .. math::  -\gamma\,\big(\mathbb{E}_{p_d}[\log D] + \mathbb{E}_{p_g}[\log(1 - D)]\big)
               - (1 - \gamma)\,\mathbb{E}_{p_{an}}[\log(1 - D)]

    with :math:`D = \sigma(\text{logit})`: known anomalies count as fakes,
    weighted :math:`1 - \gamma`. ``gamma = 1`` is the plain GAN (eq. 1) and
    needs no anomalies.
    """
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    bce = F.binary_cross_entropy_with_logits  # -log D for target 1, -log(1 - D) for 0
    # -V(D, G): real samples towards D = 1, generated ones towards D = 0
    loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    if gamma == 1.0:
        return loss  # the plain GAN: no anomaly term at all
    if anomaly_logits is None:
        raise ValueError(f"gamma = {gamma} < 1 needs anomaly_logits (the known anomalies' logits)")
    # -l_An(D): known anomalies towards D = 0, a second kind of fake, weight 1 - gamma
    return gamma * loss + (1 - gamma) * bce(anomaly_logits, torch.zeros_like(anomaly_logits))


def gan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The generator's non-saturating loss :math:`-\mathbb{E}_{p_g}[\log D(G(z))]`.

    Goodfellow et al.'s practical replacement for minimising
    :math:`\mathbb{E}[\log(1 - D(G(z)))]`; it has the same fixed points. The
    anomaly term of :math:`V'` does not depend on G, so the generator's loss
    is the same with and without it (up to the factor :math:`\gamma`).
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def segment_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""The two-stage model's loss (Shah and Kim 2022, eq. 4) on :math:`\hat y = \sigma(\text{logits})`
    [N, 1, H, W] and target masks [N, 1, H, W]: mean squared error plus :math:`1 - \mathrm{SSIM}`."""
    p = torch.sigmoid(logits)
    return F.mse_loss(p, masks) + ssim_loss(p, masks)
