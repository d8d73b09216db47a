r"""The convolutional auto-encoder baseline (seed 004).

Train on normal images only to reconstruct them through a bottleneck
(:class:`anotutor.models.autoencoder.ConvAutoEncoder`). A defect is something
the bottleneck has no room for, so it is reconstructed as normal texture and
shows up in the residual. The seed's Algorithm 1 takes, per pixel, the largest
absolute difference over the channels,

.. math::  r(u, v) = \max_c |x_c(u, v) - \hat x_c(u, v)|,

and thresholds it at :math:`\tau`. The loss is the L2 loss of the seed's
equation 5 (mean squared error), or the SSIM loss of Bergmann et al. (2019),
:math:`1 - \mathrm{SSIM}(x, \hat x)`. The image score is the mean of the top
1 % of the residual map: like the maximum, it fires on a small defect, but it
is not decided by a single noisy pixel.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..checks import check_int, check_range
from ..data.augment import augment
from ..losses import ssim_loss
from ..models.autoencoder import ConvAutoEncoder, supported_size
from ..runtime import budget, seed_everything
from .base import Detector
from .scores import residual_map, top_fraction_score

__all__ = ["AutoEncoderDetector"]

LOSSES = ("l2", "ssim")
STEP_FACTOR = 4  # default steps = STEP_FACTOR x the budget's steps (the network is small and cheap)


class AutoEncoderDetector(Detector):
    """Seed 004's auto-encoder behind the Detector contract.

    ``image_size``: working resolution (32, 48, 64, 96, 128, 256, ...: see
    :func:`~anotutor.models.autoencoder.supported_size`); ``latent_size``: the
    bottleneck's channels; ``loss``: ``"l2"`` or ``"ssim"``; ``steps``,
    ``batch_size``, ``lr``: the Adam training run; ``augment``: rotation,
    flips and noise (seed 004, section 3.2). ``None`` takes the budget's value;
    for ``steps`` that is :data:`STEP_FACTOR` times the budget's steps, because
    the book measured that a shorter run stops on a plateau where the network
    has learned only the mean shading (chapter "The convolutional auto-encoder
    baseline").

    ``nested``: smaller bottleneck sizes trained inside the same network by
    nested dropout (Rippel et al., 2014): every training image draws one size
    from ``nested + (latent_size,)`` and the decoder sees only that many
    leading latent numbers. :meth:`at_latent` then gives a detector that uses
    one of these sizes, so one training run measures several latent sizes.
    """

    _config_keys = ("image_size", "latent_size", "nested", "loss", "steps", "batch_size", "lr", "augment",
                    "seed")

    def __init__(self, image_size: int | None = None, latent_size: int = 100, loss: str = "l2",
                 steps: int | None = None, batch_size: int | None = None, lr: float = 2e-3,
                 augment: bool = True, seed: int = 0, device: str | None = None, progress: bool = True,
                 nested: "tuple[int, ...] | list[int]" = ()):
        b = budget()
        self.image_size = image_size if image_size is not None else b.image_size
        supported_size(self.image_size)
        self.latent_size = check_int(latent_size, "latent_size", minimum=1)
        self.nested = tuple(sorted({check_int(k, "nested latent size", minimum=1, maximum=self.latent_size - 1)
                                    for k in nested})) if len(nested) else ()
        self.keep_ = None  # latent numbers the decoder sees at predict time (None: all)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.loss = loss
        self.steps = check_int(steps if steps is not None else STEP_FACTOR * b.steps, "steps", minimum=1)
        self.batch_size = check_int(batch_size if batch_size is not None else b.batch_size, "batch_size")
        self.lr = check_range(lr, "lr", 0.0, 1.0, low_open=True)
        self.augment = bool(augment)
        self.seed = check_int(seed, "seed", minimum=0)
        self.device = device
        self.progress = progress
        self.model_ = None

    def at_latent(self, k: int) -> "AutoEncoderDetector":
        """A view of this fitted detector that decodes from the first ``k`` latent numbers only.

        ``k`` must be ``latent_size`` or one of ``nested``: only those sizes were trained.
        """
        self._check_fitted()
        sizes = self.nested + (self.latent_size,)
        if k not in sizes:
            raise ValueError(f"latent size {k!r} was not trained; choose one of {sizes}")
        view = copy.copy(self)
        view.keep_ = None if k == self.latent_size else int(k)
        return view

    def _build_model(self) -> ConvAutoEncoder:
        return ConvAutoEncoder(self.image_size, self.channels_, self.latent_size)

    def _loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        if self.loss == "ssim":
            return ssim_loss(recon, x)
        return F.mse_loss(recon, x)

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None) -> None:
        g = seed_everything(self.seed)
        self.model_ = self._build_model().to(self.device_)
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        self.history_ = []
        self.model_.train()
        if x.shape[0] < 2:
            raise ValueError(f"fit needs at least 2 training images (BatchNorm needs a batch), got {x.shape[0]}")
        bs = min(self.batch_size, x.shape[0])
        sizes = torch.tensor(self.nested + (self.latent_size,))  # nested dropout draws from these
        for _ in tqdm(range(self.steps), desc=f"auto-encoder ({self.loss}, latent {self.latent_size})",
                      disable=not self.progress, leave=False):
            idx = torch.randint(0, x.shape[0], (bs,), generator=g)
            xb = x[idx]
            if self.augment:
                xb = augment(xb, generator=g)
            xb = xb.to(self.device_)
            keep = None
            if self.nested:
                keep = sizes[torch.randint(0, len(sizes), (xb.shape[0],), generator=g)].to(self.device_)
            loss = self._loss(xb, self.model_(xb, keep))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.history_.append(loss.item())
        self.model_.eval()

    def _predict(self, x: torch.Tensor):
        recon = self.model_(x, self.keep_)
        residual = residual_map(x, recon)
        return top_fraction_score(residual), residual, {"reconstruction": recon}
