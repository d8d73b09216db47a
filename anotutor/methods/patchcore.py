r"""PatchCore (Roth et al. 2022, "Towards total recall in industrial anomaly detection").

A test patch is normal when a normal training patch looks like it. Every
position of every training image is described by **locally aware patch
features**: the backbone's maps at two mid-level strides (8 and 16 by
default), each averaged over a 3 x 3 neighbourhood on its own grid (the
zero padding at the border counted, as anomalib does: chapter 8's ablation
chose it on validation data), the coarser one upsampled to the finer grid,
concatenated (:func:`.feature_memory.patch_grid`).
All of them form the memory bank :math:`\mathcal M`, thinned by the greedy
**coreset** of the paper's Algorithm 1 (:func:`.feature_memory.greedy_coreset`)
to a fraction of its size.

At test time a patch's anomaly score is its distance to the nearest bank
entry, :math:`s(m) = \min_{n \in \mathcal M} \lVert m - n \rVert_2`; the map
is upsampled to the working size and Gaussian-smoothed (:math:`\sigma = 8`
px at 224 px, one stride-8 cell, scaled with the working size; the paper's
4 px was worse on validation in chapter 8's ablation). The image score (the paper's eq. 7) starts from the most
anomalous patch :math:`m^{test,*}` with score :math:`s^*` and nearest bank
entry :math:`m^*`, and weighs it by how isolated :math:`m^*` is among its
:math:`b` nearest bank neighbours :math:`\mathcal N_b(m^*)`:

.. math::  s = \Bigl(1 - \frac{\exp \lVert m^{test,*} - m^* \rVert}
           {\sum_{m \in \mathcal N_b(m^*)} \exp \lVert m^{test,*} - m \rVert}\Bigr)\, s^*.

``reweight=0`` keeps :math:`s = s^*` (the paper's public code does).

Greedy selection is *nested*: the first n centres of a run of N > n are the
run of n. The bank is kept in the order of selection, so one fit gives every
smaller coreset: ``with_params(coreset=f)`` is a view on the first rows.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..checks import check_int
from ..models.backbone import DEFAULT as DEFAULT_BACKBONE
from .feature_memory import (
    AGGREGATION,
    AGGREGATIONS,
    COMMON_SPEC,
    FeatureMemory,
    FeatureMemoryScorer,
    greedy_coreset,
    nearest_distances,
)
from .params import ARCHITECTURE, INFERENCE, TRAINING, choice, custom, integer, real

__all__ = ["PatchCore", "PatchCoreScorer", "patchcore_scores"]


def _reweight(v) -> int:
    v = check_int(v, "reweight", minimum=0)
    if v == 1:
        raise ValueError("reweight must be 0 (no reweighting) or at least 2 neighbours, got 1")
    return v


def patchcore_scores(features: torch.Tensor, bank: torch.Tensor, b: int = 9):
    r"""PatchCore's scores of patch features [n, D, h, w] against a memory bank [M, D].

    Returns the image scores [n] (the paper's eq. 7, over the ``b`` nearest
    bank rows of :math:`m^*`; ``b`` < 2: the plain maximum :math:`s^*`) and
    the map [n, h, w] of each patch's distance to its nearest bank row.
    """
    n, d, h, w = features.shape
    q = features.permute(0, 2, 3, 1).reshape(-1, d)  # one row per patch
    dist, nearest = nearest_distances(q, bank, 1)  # s(m) and argmin
    dist, nearest = dist.view(n, h * w), nearest.view(n, h * w)
    s_star, at = dist.max(dim=1)  # the worst patch
    scores = s_star
    b = min(b, int(bank.shape[0]))  # a constant under tracing (the bank does not change)
    if b >= 2:
        rows = torch.arange(n, device=dist.device)
        q_star = q.view(n, h * w, d)[rows, at]  # m^test,*  [n, D]
        m_star = bank[nearest[rows, at]]  # m^*       [n, D]
        _, hood = nearest_distances(m_star, bank, b)  # N_b(m^*)  [n, b]
        to_hood = (q_star[:, None] - bank[hood]).norm(dim=2)  # [n, b]
        weight = 1.0 - torch.exp(s_star - torch.logsumexp(to_hood, dim=1))
        scores = weight * s_star
    return scores, dist.view(n, h, w)


class PatchCoreScorer(FeatureMemoryScorer):
    """PatchCore's inference module: the backbone and the memory ``bank`` [M, D] (a buffer), scored by
    :func:`patchcore_scores` with ``reweight`` = :math:`b`."""

    bank: torch.Tensor

    def __init__(self, backbone: nn.Module, bank: torch.Tensor, reweight: int, **kw):
        super().__init__(backbone, **kw)
        self.register_buffer("bank", bank)
        self.reweight = reweight

    def patch_scores(self, features: torch.Tensor):
        return patchcore_scores(features, self.bank, self.reweight)


class PatchCore(FeatureMemory):
    """PatchCore behind the Detector contract: ``PatchCore().fit(normal).predict(test)``.

    ``image_size``: the working size the images are resized to before the
    backbone (at least 32; 224 by default, the size ImageNet features are
    made for, whatever the input's size); ``backbone``: the ImageNet network
    (:data:`anotutor.models.backbone.BACKBONES`); ``strides``: backbone strides whose
    features are concatenated (from 2, 4, 8, 16, 32); ``pretrained``:
    ImageNet weights (``False``: the same network randomly initialised);
    ``neighbourhood``: side of the averaging window (1: none); ``aggregation``:
    where and how it averages (:data:`.feature_memory.AGGREGATIONS`); ``coreset``:
    fraction of the training patches kept in the bank (1.0: all);
    ``projection``: dimension of the random projection the coreset is chosen
    in (``None``: none); ``max_patches``: above this many training patches
    (about 1,300 images at 224 px) the coreset is chosen from a random share
    of them, so that memory and time stay bounded; ``reweight``: :math:`b` of the image score (0: plain
    maximum, else at least 2); ``smooth``: sigma in px of the map's Gaussian at
    224 px (scaled with ``image_size``: :attr:`sigma`).

    Architecture (compared on load): ``image_size``, ``backbone``, ``strides``,
    ``pretrained``, ``neighbourhood``, ``aggregation``. Learned state: the backbone's weights
    (frozen), the memory bank ``bank_`` [M, D] in greedy order, the number
    of training patches ``n_patches_`` and the view ``keep_`` of
    ``with_params(coreset=f)``.
    """

    _spec = {
        **COMMON_SPEC,
        "neighbourhood": integer(ARCHITECTURE, "neighbourhood", maximum=9),
        "aggregation": choice(ARCHITECTURE, "aggregation", AGGREGATIONS),
        "coreset": real(TRAINING, "coreset", 0.0, 1.0, low_open=True),
        "projection": integer(TRAINING, "projection", optional=True),
        "reweight": custom(INFERENCE, lambda v, p: _reweight(v)),
        "max_patches": integer(TRAINING, "max_patches"),
    }

    def __init__(
        self,
        image_size: int = 224,
        backbone: str = DEFAULT_BACKBONE,
        strides=(8, 16),
        pretrained: bool = True,
        neighbourhood: int = 3,
        aggregation: str = AGGREGATION,
        coreset: float = 0.01,
        projection: int | None = 128,
        reweight: int = 9,
        smooth: float = 8.0,
        max_patches: int = 1_000_000,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        self._store(locals())

    # the coreset fraction is also an inference setting: a view keeps the first rows of the greedy bank
    _view_params = ("coreset",)

    def _viewed(self) -> None:
        """``with_params(coreset=f)``: the bank's first rows, the greedy coreset of ``f`` of the patches.

        ``f`` may not exceed the fitted fraction: a greedy run of N centres
        holds every smaller run as its first rows, not a larger one. The view
        shares the bank; saving it records its size.
        """
        fitted, fraction = self.log_.settings["coreset"], self.params_["coreset"]
        if fraction == fitted:
            self.keep_ = None
            return
        if fitted >= 1.0:
            raise ValueError("this PatchCore kept every patch (coreset=1.0): its bank is not in greedy order")
        if fraction > fitted:
            raise ValueError(f"coreset {fraction} exceeds the fitted coreset {fitted}: fit with a larger one")
        self.keep_ = max(1, min(self.bank_.shape[0], int(round(fraction * self.n_patches_))))

    @property
    def memory_(self) -> torch.Tensor:
        """The bank rows in use: all of ``bank_``, or the first ``keep_`` in a view with a smaller ``coreset``."""
        return self.bank_ if self.keep_ is None else self.bank_[: self.keep_]

    def nearest(self, features: torch.Tensor) -> torch.Tensor:
        """Distances [P] of patch features [P, D] to their nearest bank patch: eq. (eq-pc-patch)."""
        self._check_fitted()
        if features.dim() != 2 or features.shape[1] != self.bank_.shape[1]:
            raise ValueError(f"features must be [P, {self.bank_.shape[1]}], got {tuple(features.shape)}")
        return nearest_distances(features.to(self.device_), self.memory_, 1)[0][:, 0].cpu()

    def _learn(self, batches, n: int, g: torch.Generator) -> dict:
        p = self.params_
        kept, total = [], 0
        for f in batches:
            share = min(1.0, p["max_patches"] / (n * f.shape[2] * f.shape[3]))
            f = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])
            total += f.shape[0]
            if share < 1.0:  # a big folder: a random share of each batch, so memory stays bounded
                f = f[(torch.rand(f.shape[0], generator=g) < share).to(f.device)]
            kept.append(f)
        feats = torch.cat(kept)
        self.n_patches_, self.keep_ = total, None
        size = min(feats.shape[0], max(1, int(round(p["coreset"] * total))))
        if size >= feats.shape[0] and feats.shape[0] < total:
            warnings.warn(
                f"coreset={p['coreset']} of {total} patches asks for {round(p['coreset'] * total)} "
                f"bank rows, but max_patches={p['max_patches']} kept {feats.shape[0]}: the bank is "
                "that random sample, not a greedy coreset; lower coreset or raise max_patches",
                stacklevel=4,
            )
        if size >= feats.shape[0]:
            self.bank_ = feats
        else:
            idx = greedy_coreset(feats, size, self.params_["projection"], generator=g, progress=self.progress)
            self.bank_ = feats[idx].clone()
        return {}

    def _get_state(self) -> dict:
        return {"bank": self.bank_.detach().cpu(), "n_patches": self.n_patches_, "keep": self.keep_}

    def _set_state(self, state: dict) -> None:
        bank = state["bank"]
        if bank.dim() != 2 or bank.shape[1] != self.feature_dim or bank.shape[0] < 1:
            raise ValueError(
                f"memory bank of shape {tuple(bank.shape)} does not fit features of {self.feature_dim} channels"
            )
        keep = state.get("keep")
        if keep is not None and not 1 <= keep <= bank.shape[0]:
            raise ValueError(f"coreset view of {keep} rows does not fit a bank of {bank.shape[0]}")
        self.bank_, self.n_patches_, self.keep_ = bank.to(self.device_), int(state["n_patches"]), keep

    def _module(self) -> PatchCoreScorer:
        return PatchCoreScorer(self.backbone_, self.memory_, self.params_["reweight"], **self._scorer_args())
