r"""One alternating GAN update with Noisy-AnoGAN's anomaly penalty (Kimura and Yanagihara, 2018).

The discriminator D takes one step up

.. math::  V'(D, G) = \gamma\,\big(\mathbb{E}_{p_d}[\log D] + \mathbb{E}_{p_g}[\log(1 - D)]\big)
                      + (1 - \gamma)\,\mathbb{E}_{p_{an}}[\log(1 - D)]

(the book's equation ``eq-vprime``; the paper's eqs. 15 to 17): known anomalies are
a second kind of fake, weighted :math:`1 - \gamma`. Then the generator G
takes one step down the non-saturating loss :math:`-\mathbb{E}[\log D(G(z))]`
against the freshly updated D (the anomaly term does not depend on G).
``gamma = 1`` is the plain GAN of Goodfellow et al. (2014): the anomaly term
is then left out of the computation altogether, not multiplied by zero.

Shared by the 1-D GAN of the theory chapter and the image AnoGAN, so both
train the same objective. D returns logits; :math:`D = \sigma(\text{logit})`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import check_range
from ..losses import gan_g_loss, noisy_gan_d_loss

__all__ = ["gan_step", "GAN_CURVES"]

GAN_CURVES = ("loss_d", "loss_g", "d_real", "d_fake", "d_anomaly")


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
    gamma: float = 1.0,
    anomalies: torch.Tensor | None = None,
) -> dict[str, float]:
    """One D step on V' then one G step; returns the losses and mean D per input kind.

    ``real``: a batch of normal samples; ``z``: the generator's input for this
    step; ``anomalies``: a batch of known anomalies, needed when ``gamma < 1``
    and ignored when ``gamma = 1``. The values returned (``GAN_CURVES``) are
    D's loss, G's loss and the mean of :math:`D` on real, generated and
    anomalous samples (NaN without anomalies).
    """
    gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
    penalised = gamma < 1.0
    if penalised and anomalies is None:
        raise ValueError(f"gamma = {gamma} < 1 penalises known anomalies: pass anomalies")
    G, D = generator, discriminator
    # 1. D takes one step down -V': real, generated and (gamma < 1) known anomalies
    fake = G(z)
    d_real, d_fake = D(real), D(fake.detach())  # detach: this step leaves G alone
    d_anom = D(anomalies) if penalised else None
    loss_d = noisy_gan_d_loss(d_real, d_fake, d_anom, gamma)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # 2. G takes one step down -log D(G(z)), against the D just updated
    loss_g = gan_g_loss(D(fake))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    with torch.no_grad():  # the log: both losses, mean D on each kind of input
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(d_real).mean().item(),
            "d_fake": torch.sigmoid(d_fake).mean().item(),
            "d_anomaly": (math.nan if d_anom is None else torch.sigmoid(d_anom).mean().item()),
        }
