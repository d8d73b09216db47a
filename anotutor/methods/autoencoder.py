r"""The convolutional auto-encoder baseline (Fadaeinejad, 2021).

Train on normal images only to reconstruct them through a bottleneck
(:class:`anotutor.models.autoencoder.ConvAutoEncoder`). A defect is something
the bottleneck has no room for, so it is reconstructed as normal texture and
shows up in the residual. The paper's Algorithm 1 takes, per pixel, the largest
absolute difference over the channels,

.. math::  r(u, v) = \max_c |x_c(u, v) - \hat x_c(u, v)|,

and thresholds it at :math:`\tau`. The loss is the L2 loss of the paper's
equation 5 (mean squared error), or the SSIM loss of Bergmann et al. (2019),
:math:`1 - \mathrm{SSIM}(x, \hat x)`. The image score is the mean of the top
1 % of the residual map: like the maximum, it fires on a small defect, but it
is not decided by a single noisy pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import check_int
from ..losses import ssim_loss
from ..models.autoencoder import ConvAutoEncoder, supported_size
from .base import Detector
from .params import ARCHITECTURE, INFERENCE, TRAINING, TRAINING_SPEC, choice, custom, flag, integer, working_size
from .scores import ReconstructionScorer
from .training import draw_batch, train_steps

__all__ = ["AutoEncoderDetector"]

LOSSES = ("l2", "ssim")
STEP_FACTOR = 4  # default steps = STEP_FACTOR x the budget's steps (the network is small and cheap)


def _trained_size(k, p) -> int:
    """``latent``: ``latent_size`` or one of ``nested``, the only sizes a fit trains."""
    sizes = p["nested"] + (p["latent_size"],)
    if k not in sizes:
        raise ValueError(f"latent size {k!r} was not trained; choose one of {sizes}")
    return int(k)


class AutoEncoderDetector(Detector):
    """The auto-encoder of Fadaeinejad (2021) behind the Detector contract.

    ``image_size``: working resolution (32, 48, 64, 96, 128, 256, ...: see
    :func:`~anotutor.models.autoencoder.supported_size`); ``latent_size``: the
    bottleneck's channels; ``loss``: ``"l2"`` or ``"ssim"``; ``steps``,
    ``batch_size``, ``lr``: the Adam training run; ``augment``: rotation,
    flips and noise (the paper's section 3.2). ``None`` takes the budget's
    value when ``fit`` runs; for ``steps`` that is :data:`STEP_FACTOR` times
    the budget's steps, because the book measured that a shorter run stops on
    a plateau where the network has learned only the mean shading (chapter
    "The convolutional auto-encoder baseline").

    ``nested``: smaller bottleneck sizes trained inside the same network by
    nested dropout (Rippel et al., 2014): every training image draws one size
    from ``nested + (latent_size,)`` and the decoder sees only that many
    leading latent numbers. ``latent`` (an inference setting; ``None``: all
    ``latent_size``) picks one of these sizes to decode from, so one training
    run measures several latent sizes: ``det.with_params(latent=k)``.

    Architecture (compared on load): ``image_size``, ``latent_size``,
    ``nested`` and the channel count of the data. Learned state: ``model_``
    and the training log ``log_``
    (``history_["loss"]``: one loss per step).
    """

    _spec = {
        "image_size": working_size(lambda v, p: supported_size(v)),
        "latent_size": integer(ARCHITECTURE, "latent_size"),
        "nested": custom(
            ARCHITECTURE,
            lambda v, p: tuple(
                sorted({check_int(k, "nested latent size", minimum=1, maximum=p["latent_size"] - 1) for k in v})
            ),
        ),
        "loss": choice(TRAINING, "loss", LOSSES),
        **TRAINING_SPEC,
        "augment": flag(TRAINING, "augment"),
        "latent": custom(INFERENCE, lambda v, p: _trained_size(v, p), optional=True),
    }

    def __init__(
        self,
        image_size: int | None = None,
        latent_size: int = 100,
        loss: str = "l2",
        steps: int | None = None,
        batch_size: int | None = None,
        lr: float = 2e-3,
        augment: bool = True,
        seed: int = 0,
        nested: tuple[int, ...] | list[int] = (),
        latent: int | None = None,
        device: str | None = None,
        progress: bool = True,
    ):
        self._store(locals())

    def _defaults(self, params: dict, b) -> dict:
        return {"image_size": b.image_size, "steps": STEP_FACTOR * b.steps, "batch_size": b.batch_size}

    @property
    def latent_in_use(self) -> int:
        """The bottleneck size this detector decodes from (``latent``, or all ``latent_size``)."""
        self._check_fitted()
        return self.params_.get("latent") or self.params_["latent_size"]

    def _build_networks(self) -> dict:
        p = self.params_
        return {"model_": ConvAutoEncoder(p["image_size"], self.channels_, p["latent_size"])}

    def _get_state(self) -> dict:
        return {}

    def _set_state(self, state: dict) -> None:
        if state.get("keep") is not None:  # a checkpoint of the former at_latent view: its size is latent
            self.params_["latent"] = _trained_size(state["keep"], self.params_)

    def _loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        if self.params_["loss"] == "ssim":
            return ssim_loss(recon, x)
        return F.mse_loss(recon, x)

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None, g: torch.Generator) -> dict:
        p = self.params_
        self.model_ = self._build_networks()["model_"].to(self.device_)
        sizes = torch.tensor(p["nested"] + (p["latent_size"],))  # nested dropout draws from these

        def step_loss() -> torch.Tensor:  # eq. 5 (or the SSIM loss) on a batch of normal images
            xb = draw_batch(x, p["batch_size"], g, p["augment"]).to(self.device_)
            keep = None
            if p["nested"]:
                keep = sizes[torch.randint(0, len(sizes), (xb.shape[0],), generator=g)].to(self.device_)
            return self._loss(xb, self.model_(xb, keep))

        desc = f"auto-encoder ({p['loss']}, latent {p['latent_size']})"
        return {"loss": train_steps(self.model_, p["steps"], p["lr"], step_loss, desc, self.progress)}

    def _module(self) -> ReconstructionScorer:
        """Inference: the reconstruction from ``latent_in_use`` numbers, its residual and top-1 % score."""
        k = self.latent_in_use
        return ReconstructionScorer(self.model_, None if k == self.params_["latent_size"] else k)
