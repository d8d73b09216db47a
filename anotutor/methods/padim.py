r"""PaDiM (Defard et al. 2021, "PaDiM: a patch distribution modeling framework").

Each position :math:`(i, j)` of the feature grid gets its own Gaussian
:math:`\mathcal N(\mu_{ij}, \Sigma_{ij})`, fitted on the patch features of
the normal training images at that position: the backbone's maps at the
chosen strides on the finest grid, of which a random subset of ``n_features``
channels is kept (the paper's random dimensionality reduction). The
covariance is regularised, :math:`\Sigma_{ij} = \hat\Sigma_{ij} + \epsilon I`,
and a test patch's anomaly score is its Mahalanobis distance

.. math::  M(x_{ij}) = \sqrt{(x_{ij} - \mu_{ij})^\top \Sigma_{ij}^{-1} (x_{ij} - \mu_{ij})}.

The map is upsampled to the working size and Gaussian-smoothed
(:math:`\sigma = 4`); the image score is its maximum. One Gaussian per
*position* assumes the images are aligned: a part that sits elsewhere, or a
texture whose pattern shifts from image to image, spreads each position's
Gaussian over everything that can appear there.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_int
from ..models.backbone import DEFAULT as DEFAULT_BACKBONE
from .feature_memory import COMMON_SPEC, FeatureMemory, FeatureMemoryScorer, feature_dim
from .params import ARCHITECTURE, TRAINING, custom, real

__all__ = ["PaDiM", "PaDiMScorer"]


class PaDiMScorer(FeatureMemoryScorer):
    """PaDiM's inference module: the backbone, the kept ``channels`` [d] and one Gaussian per grid
    position, ``mean`` [P, d] and ``precision`` [P, d, d] (buffers); a patch's score is its
    Mahalanobis distance, the image score the map's maximum."""

    channels: torch.Tensor
    mean: torch.Tensor
    precision: torch.Tensor

    def __init__(self, backbone: nn.Module, channels: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor, **kw):
        super().__init__(backbone, **kw)
        self.register_buffer("channels", channels)
        self.register_buffer("mean", mean)
        self.register_buffer("precision", precision)

    def patch_scores(self, features: torch.Tensor):
        n, _, h, w = features.shape
        if h * w != self.mean.shape[0]:
            raise ValueError(f"feature grid {h} x {w} does not match the fitted {self.mean.shape[0]} positions")
        f = features[:, self.channels.to(features.device)]
        f = f.flatten(2).permute(0, 2, 1)  # [n, P, d]
        diff = f - self.mean[None]
        m2 = torch.einsum("npd,pde,npe->np", diff, self.precision, diff)
        return None, m2.clamp_min(0).sqrt().view(n, h, w)


class PaDiM(FeatureMemory):
    """PaDiM behind the Detector contract: ``PaDiM().fit(normal).predict(test)``.

    ``image_size``, ``backbone``, ``strides``, ``pretrained``, ``smooth``: as
    :class:`~anotutor.methods.patchcore.PatchCore`; ``n_features``: channels
    kept at random (at most the backbone's channels at ``strides``);
    ``eps``: the covariance's regulariser. Architecture (compared on load):
    ``image_size``, ``backbone``, ``strides``, ``pretrained``, ``n_features``. Learned state:
    the kept channels ``channels_idx_``, the means ``mean_`` [P, d] and the
    inverse covariances ``precision_`` [P, d, d], P positions of the grid.
    """

    _spec = {
        **COMMON_SPEC,
        "n_features": custom(
            ARCHITECTURE,
            lambda v, p: check_int(v, "n_features", minimum=1, maximum=feature_dim(p["strides"], p["backbone"])),
        ),
        "eps": real(TRAINING, "eps", 0.0, 1e3, low_open=True),
    }
    _min_train_images = (2, "a covariance needs two")

    def __init__(
        self,
        image_size: int = 224,
        backbone: str = DEFAULT_BACKBONE,
        strides=(8, 16),
        pretrained: bool = True,
        n_features: int = 100,
        eps: float = 0.01,
        smooth: float = 4.0,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        self._store(locals())

    def _learn(self, batches, n: int, g: torch.Generator) -> dict:
        p = self.params_
        idx = torch.randperm(self.feature_dim, generator=g)[: p["n_features"]].sort().values
        total = outer = None
        for f in batches:
            f = f[:, idx.to(f.device)].flatten(2).permute(2, 0, 1).double()  # [P, B, d]
            s, o = f.sum(1), torch.einsum("pbd,pbe->pde", f, f)
            total, outer = (s, o) if total is None or outer is None else (total + s, outer + o)
        assert total is not None and outer is not None  # fit needs at least one image
        mean = total / n
        cov = (outer - n * mean[:, :, None] * mean[:, None, :]) / (n - 1)
        cov += p["eps"] * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        self.channels_idx_ = idx
        self.mean_ = mean.float()
        self.precision_ = torch.linalg.inv(cov).float()
        return {}

    def _get_state(self) -> dict:
        return {"channels": self.channels_idx_.cpu(), "mean": self.mean_.cpu(), "precision": self.precision_.cpu()}

    def _set_state(self, state: dict) -> None:
        d = self.params_["n_features"]
        idx, mean, prec = state["channels"], state["mean"], state["precision"]
        if idx.shape != (d,) or mean.dim() != 2 or mean.shape[1] != d or prec.shape != (mean.shape[0], d, d):
            raise ValueError(f"Gaussians of shapes {tuple(mean.shape)}, {tuple(prec.shape)} do not fit {d} features")
        self.channels_idx_ = idx.long()
        self.mean_, self.precision_ = mean.to(self.device_), prec.to(self.device_)

    def _module(self) -> PaDiMScorer:
        return PaDiMScorer(self.backbone_, self.channels_idx_, self.mean_, self.precision_, **self._scorer_args())
