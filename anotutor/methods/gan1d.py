r"""A tiny GAN on 1-D data, with Noisy-AnoGAN's anomaly penalty (seed 001, eqs. 15 to 17).

The discriminator D maximises

.. math::  V'(D, G) = \gamma\,\big(\mathbb{E}_{p_d}[\log D] + \mathbb{E}_{p_g}[\log(1 - D)]\big)
                      + (1 - \gamma)\,\mathbb{E}_{p_{an}}[\log(1 - D)],

i.e. it is trained to call the known anomalies fake as well, with weight
:math:`1 - \gamma`; the generator G minimises the non-saturating loss
:math:`-\mathbb{E}[\log D(G(z))]` (the anomaly term does not depend on G).
With ``gamma = 1`` this is the plain GAN of Goodfellow et al. Theory
(:mod:`anotutor.theory`) says where G should end: :math:`p_g^*` of eq. 23
where that is a distribution, the constrained optimum elsewhere.

Both networks are small MLPs (:class:`anotutor.models.MLP`); training runs on
the CPU in seconds and is repeatable for a given ``seed``. The steps do not
follow the budget preset: a 1-D GAN gains nothing from a GPU.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checks import as_scores, check_int, check_range
from ..losses import gan_g_loss, noisy_gan_d_loss
from ..models import MLP
from ..runtime import cpu_threads, seed_everything
from .base import NotFittedError

__all__ = ["GAN1D"]


def _as_samples(x, name: str) -> torch.Tensor:
    """1-D samples ([N] or [N, 1]) as a float tensor [N, 1]; values checked by :func:`~anotutor.checks.as_scores`."""
    shape = tuple(np.shape(x.detach().cpu() if isinstance(x, torch.Tensor) else x))
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or 0 in shape:
        raise ValueError(f"{name} must be a non-empty 1-D array of samples, got shape {shape}")
    return torch.from_numpy(as_scores(x, name).astype(np.float32))[:, None]


class GAN1D:
    """A GAN for 1-D samples; ``gamma < 1`` adds the anomaly penalty (needs ``anomalies`` in fit).

    ``GAN1D(gamma=0.5).fit(x, anomalies=a)`` returns the fitted model;
    :meth:`sample` draws from G, :meth:`discriminate` evaluates D. Learned
    state: ``generator_``, ``discriminator_``, ``history_`` (per step: D loss,
    G loss, mean D on real data, on fakes and on known anomalies).
    """

    def __init__(self, gamma: float = 1.0, steps: int = 2000, batch_size: int = 512, lr: float = 1e-3,
                 latent_dim: int = 2, hidden: int = 32, depth: int = 2, seed: int = 0, progress: bool = True):
        self.gamma = check_range(gamma, "gamma", 0.0, 1.0, low_open=True)
        self.steps = check_int(steps, "steps")
        self.batch_size = check_int(batch_size, "batch_size")
        self.lr = check_range(lr, "lr", 0.0, 1.0, low_open=True)
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.hidden = check_int(hidden, "hidden")
        self.depth = check_int(depth, "depth")
        self.seed = check_int(seed, "seed", minimum=0)
        self.progress = progress
        self.generator_ = None

    def __repr__(self) -> str:
        return (f"GAN1D(gamma={self.gamma!r}, steps={self.steps}, batch_size={self.batch_size}, "
                f"lr={self.lr!r}, latent_dim={self.latent_dim}, hidden={self.hidden}, seed={self.seed})")

    def fit(self, x, anomalies=None) -> "GAN1D":
        real = _as_samples(x, "x")
        anom = None if anomalies is None else _as_samples(anomalies, "anomalies")
        if self.gamma < 1 and anom is None:
            raise ValueError(f"gamma = {self.gamma} < 1 penalises known anomalies: pass anomalies=...")
        with cpu_threads(1):  # tiny MLPs: one thread beats several busy ones by far
            self._train(real, anom)
        return self

    def _train(self, real: torch.Tensor, anom: torch.Tensor | None) -> None:
        g = seed_everything(self.seed)
        self.generator_ = G = MLP(self.latent_dim, 1, self.hidden, self.depth)
        self.discriminator_ = D = MLP(1, 1, self.hidden, self.depth)
        opt_g = torch.optim.Adam(G.parameters(), lr=self.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=self.lr, betas=(0.5, 0.999))
        # constant rate for the first half, then linearly down to 5 %: damps the late oscillations
        decay = lambda t: min(1.0, max(0.05, 2.0 * (1 - t / self.steps)))  # noqa: E731
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
        use_anom = self.gamma < 1
        bs = self.batch_size
        hist = np.zeros((self.steps, 5), dtype=np.float32)
        for step in tqdm(range(self.steps), desc=f"1-D GAN (gamma = {self.gamma:g})", disable=not self.progress,
                         leave=False):
            xb = real[torch.randint(0, real.shape[0], (bs,), generator=g)]
            fake = G(torch.randn(bs, self.latent_dim, generator=g))
            ab = anom[torch.randint(0, anom.shape[0], (bs,), generator=g)] if use_anom else None
            # D step: maximise V' (eqs. 15 to 17), i.e. minimise its negative
            d_real, d_fake = D(xb), D(fake.detach())
            d_anom = D(ab) if use_anom else None
            loss_d = noisy_gan_d_loss(d_real, d_fake, d_anom, self.gamma)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # G step: non-saturating loss on the freshly updated D
            loss_g = gan_g_loss(D(fake))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for sch in scheds:
                sch.step()
            with torch.no_grad():
                hist[step] = (loss_d.item(), loss_g.item(), torch.sigmoid(d_real).mean().item(),
                              torch.sigmoid(d_fake).mean().item(),
                              torch.sigmoid(d_anom).mean().item() if use_anom else np.nan)
        self.history_ = {k: hist[:, i] for i, k in enumerate(("loss_d", "loss_g", "d_real", "d_fake", "d_anomaly"))}
        G.eval()
        D.eval()

    def _check_fitted(self) -> None:
        if self.generator_ is None:
            raise NotFittedError("this GAN1D is not fitted yet: call fit(x) first")

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` samples of G (float32), repeatable for a given ``seed``."""
        self._check_fitted()
        n = check_int(n, "n")
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        return self.generator_(z)[:, 0].numpy()

    @torch.no_grad()
    def discriminate(self, x) -> np.ndarray:
        """D(x) in (0, 1) for 1-D points ``x``: near 1 means 'real', near 0 'fake or anomalous'."""
        self._check_fitted()
        return torch.sigmoid(self.discriminator_(_as_samples(x, "x")))[:, 0].numpy()
