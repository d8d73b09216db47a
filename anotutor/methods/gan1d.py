r"""A tiny GAN on 1-D data, with Noisy-AnoGAN's anomaly penalty (Kimura and Yanagihara, 2018).

The discriminator D maximises

.. math::  V'(D, G) = \gamma\,\big(\mathbb{E}_{p_d}[\log D] + \mathbb{E}_{p_g}[\log(1 - D)]\big)
                      + (1 - \gamma)\,\mathbb{E}_{p_{an}}[\log(1 - D)],

(the book's (3.6), ``eq-vprime``; the paper's eqs. 15 to 17), i.e. it is trained to
call the known anomalies fake as well, with weight :math:`1 - \gamma`; the
generator G minimises the non-saturating loss :math:`-\mathbb{E}[\log D(G(z))]`
(the anomaly term does not depend on G). One update is
:func:`anotutor.methods.gan_step.gan_step`, the step the image AnoGAN uses too.
With ``gamma = 1`` this is the plain GAN of Goodfellow et al. Theory
(:mod:`anotutor.theory`) says where G should end: :math:`p_g^*` of the paper's eq. 23
where that is a distribution, the constrained optimum elsewhere.

Both networks are small MLPs (:class:`anotutor.models.MLP`); training runs on
the CPU in seconds and is repeatable for a given ``seed``. The steps do not
follow the budget preset: a 1-D GAN gains nothing from a GPU.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import as_scores, check_int
from ..models import MLP
from ..runtime import cpu_threads, progress
from .estimator import Estimator
from .gan_step import GAN_CURVES, gan_step
from .params import ARCHITECTURE, TRAINING, integer, real

__all__ = ["GAN1D"]


def _as_samples(x, name: str) -> torch.Tensor:
    """1-D samples ([N] or [N, 1]) as a float tensor [N, 1]; values checked by :func:`~anotutor.checks.as_scores`."""
    shape = tuple(np.shape(x.detach().cpu() if isinstance(x, torch.Tensor) else x))
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or 0 in shape:
        raise ValueError(f"{name} must be a non-empty 1-D array of samples, got shape {shape}")
    return torch.from_numpy(as_scores(x, name).astype(np.float32))[:, None]


class GAN1D(Estimator):
    """A GAN for 1-D samples; ``gamma < 1`` adds the anomaly penalty (needs ``anomalies`` in fit).

    ``GAN1D(gamma=0.5).fit(x, anomalies=a)`` returns the fitted model;
    :meth:`sample` draws from G, :meth:`discriminate` evaluates D. Learned
    state: ``generator_``, ``discriminator_`` and the training log ``log_``
    (``history_``: per step D's loss, G's loss, mean D on real data, on fakes
    and on known anomalies). Architecture (compared on load): ``latent_dim``,
    ``hidden``, ``depth``.
    """

    gamma: float  # a constructor argument that fit reads before params_ exists
    _spec = {
        "gamma": real(TRAINING, "gamma", 0.0, 1.0, low_open=True),
        "steps": integer(TRAINING, "steps"),
        "batch_size": integer(TRAINING, "batch_size"),
        "lr": real(TRAINING, "lr", 0.0, 1.0, low_open=True),
        "latent_dim": integer(ARCHITECTURE, "latent_dim"),
        "hidden": integer(ARCHITECTURE, "hidden"),
        "depth": integer(ARCHITECTURE, "depth"),
        "seed": integer(TRAINING, "seed", minimum=0),
    }
    _networks = ("generator_", "discriminator_")

    def __init__(
        self,
        gamma: float = 1.0,
        steps: int = 2000,
        batch_size: int = 512,
        lr: float = 1e-3,
        latent_dim: int = 2,
        hidden: int = 32,
        depth: int = 2,
        seed: int = 0,
        progress: bool = True,
    ):
        self._store(locals())

    def _build_networks(self) -> dict:
        p = self.params_
        return {
            "generator_": MLP(p["latent_dim"], 1, p["hidden"], p["depth"]),
            "discriminator_": MLP(1, 1, p["hidden"], p["depth"]),
        }

    def fit(self, x, anomalies=None) -> GAN1D:
        real = _as_samples(x, "x")
        anom = None if anomalies is None else _as_samples(anomalies, "anomalies")
        if self.gamma < 1 and anom is None:
            raise ValueError(f"gamma = {self.gamma} < 1 penalises known anomalies: pass anomalies=...")
        with cpu_threads(1):  # tiny MLPs: one thread beats several busy ones by far
            return self._run_fit(lambda m, g: m._train(real, anom, g), device=torch.device("cpu"))

    def _train(self, real: torch.Tensor, anom: torch.Tensor | None, g: torch.Generator) -> dict:
        p = self.params_
        nets = self._build_networks()
        self.generator_ = G = nets["generator_"]
        self.discriminator_ = D = nets["discriminator_"]
        opt_g = torch.optim.Adam(G.parameters(), lr=p["lr"], betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=p["lr"], betas=(0.5, 0.999))
        steps, bs, gamma = p["steps"], p["batch_size"], p["gamma"]
        # constant rate for the first half, then linearly down to 5 %:
        # damps the late oscillations
        decay = lambda t: min(1.0, max(0.05, 2.0 * (1 - t / steps)))  # noqa: E731
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
        hist = np.zeros((steps, len(GAN_CURVES)), dtype=np.float32)
        for step in progress(range(steps), desc=f"1-D GAN (gamma = {gamma:g})", enabled=self.progress):
            xb = real[torch.randint(0, real.shape[0], (bs,), generator=g)]
            z = torch.randn(bs, p["latent_dim"], generator=g)
            ab = None if gamma >= 1 or anom is None else anom[torch.randint(0, anom.shape[0], (bs,), generator=g)]
            out = gan_step(G, D, opt_g, opt_d, xb, z, gamma, ab)
            for sch in scheds:
                sch.step()
            hist[step] = [out[k] for k in GAN_CURVES]
        G.eval()
        D.eval()
        return {k: hist[:, i] for i, k in enumerate(GAN_CURVES)}

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` samples of G (float32), repeatable for a given ``seed``."""
        self._check_fitted()
        n = check_int(n, "n")
        z = torch.randn(n, self.params_["latent_dim"], generator=torch.Generator().manual_seed(seed))
        return self.generator_(z)[:, 0].numpy()

    @torch.no_grad()
    def discriminate(self, x) -> np.ndarray:
        """D(x) in (0, 1) for 1-D points ``x``: near 1 means 'real', near 0 'fake or anomalous'."""
        self._check_fitted()
        return torch.sigmoid(self.discriminator_(_as_samples(x, "x")))[:, 0].numpy()
