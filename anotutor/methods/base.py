"""The one Detector contract every method follows.

    det = SomeDetector(image_size=64, ...)      # hyper-parameters only
    det.fit(train_images, anomalies=few_bad)    # returns det, so calls chain
    out = det.predict(test_images)              # out.scores [N], out.maps [N, H, W]

Images are float tensors in [0, 1], shape [N, C, H, W], C = 1 or 3, of any
height and width: a detector works internally at its ``image_size`` (resizing
on the way in) and returns maps at the input's H x W (resizing on the way
out). Larger scores mean more anomalous. Maps are non-negative and on the
method's own scale (a residual in [0, 1], a probability, an unbounded latent-
search loss); a threshold ``tau`` lives on the same scale.

Parameters, the training log and checkpoints follow :mod:`.estimator`.

**What a new detector supplies.** Six names; everything else (input
checks, resizing, batching, timing, views, checkpoints, thresholds) is the
base classes'::

    class MeanImage(Detector):
        _spec = {"image_size": working_size()}          # 1. every parameter once, with its check and kind
        _networks = ("model_",)                          # 2. the attributes that hold its networks

        def __init__(self, image_size=32, device=None, progress=True):
            self._store(locals())                        # 3. the constructor's arguments, checked

        def _build_networks(self):                       # 4. fresh networks from params_ (load uses it too)
            return {"model_": MeanScorer(self.channels_)}  # a ScoringModule: images -> scores, maps

        def _fit(self, x, anomalies, generator):         # 5. learn; return the training curves
            ...

        def _module(self):                               # 6. its inference: a ScoringModule of its networks
            return self.model_

Optional, where a method needs them: ``_defaults(params, budget)`` (the
values of parameters left ``None``), ``_get_state``/``_set_state`` (learned
state besides the networks' weights), ``_extras_resize`` (which extras are
maps or images at the working size), ``_min_train_images``,
``_anomaly_use`` (when known anomalies are required), ``_view_params`` and
``_viewed`` (a training setting a view may change, and the state that
follows it). ``tests/test_contract.py`` holds a detector written with the
six names alone.

**Training and inference apart.** The Detector trains, checks, resizes,
batches and saves; inference is one torch module per method
(:class:`anotutor.models.scoring.ScoringModule`): ``_module()`` assembles it
from the fitted networks and learned tensors (shared, not copied), and
:meth:`Detector.torch_model` hands it out, e.g. to export it or to run it
on another device. ``forward(x) -> (scores, maps)`` at the working size;
``explain(x, generator)`` adds the extras.

For a subclass: ``_fit(x, anomalies, generator) -> curves`` and the
module's ``explain(x, generator) -> (scores, maps, extras)`` receive images
already validated and resized to ``params_["image_size"]``, on ``device_``.
``predict`` runs the module under ``torch.no_grad()``; a method whose
inference needs gradients (AnoGAN's latent search) opens
``torch.enable_grad()`` inside and returns detached tensors.
``generator`` is a CPU ``torch.Generator`` seeded by ``predict``'s ``seed``,
for inference that draws random numbers (a random search start). A detector
whose inference is no module may override ``_predict(x, generator)``, which
by default runs ``_module().explain``. Extras
named in ``_extras_resize`` (a reconstruction, a per-stage map) are resized
to the input size by their interpolation mode and clamped to [0, 1]; every
other extra (a latent code, logits) comes back as the method returned it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..checks import as_images, check_int, check_range
from ..data.images import resize
from ..models.scoring import ScoringModule
from ..runtime import Timer
from ..runtime import progress as progress_bar
from .estimator import Estimator, NotFittedError
from .thresholds import Thresholds

__all__ = ["Detection", "Detector", "NotFittedError"]


@dataclass
class Detection:
    """What ``predict`` returns.

    ``scores`` [N] one per image; ``maps`` [N, H, W] per pixel, at the input's
    size, non-negative, on the method's own scale; ``ms_per_image`` the
    inference time (a warm-up image excluded); ``extras`` method-specific
    tensors (e.g. reconstructions [N, C, H, W], latent codes); ``threshold``
    the detector's :class:`~.thresholds.Thresholds` when it has them.
    """

    scores: torch.Tensor
    maps: torch.Tensor
    ms_per_image: float
    extras: dict = field(default_factory=dict)
    threshold: Thresholds | None = None

    def verdicts(self) -> list[str]:
        """``"normal"`` or ``"anomalous"`` per image, at the detector's image threshold."""
        if self.threshold is None:
            raise ValueError(
                "this detector has no thresholds: anotutor fit chooses them (anotutor.load(model_dir)), "
                "or set det.threshold_ = anotutor.methods.thresholds.choose(...)"
            )
        return [self.threshold.verdict(float(s)) for s in self.scores]

    def masks(self, tau: float) -> torch.Tensor:
        """Binary masks [N, H, W]: pixels whose map value is at least ``tau`` (any tau >= 0)."""
        tau = check_range(tau, "tau", 0.0, float("inf"), high_open=True)
        return (self.maps >= tau).float()


class Detector(Estimator):
    """Base class of the image detectors: validation, resizing, batching, timing."""

    _networks: tuple[str, ...] = ("model_",)
    # extras that are images [N, C, h, w] or maps [N, h, w] at the working size: resized to the input's size
    # by this interpolation mode each (and kept in [0, 1]); other extras are returned as they are
    _extras_resize: dict[str, str] = {"reconstruction": "bilinear"}
    # The fewest training images fit accepts, and why (BatchNorm needs a batch, a covariance two
    # samples); checked before anything is built or trained.
    _min_train_images: tuple[int, str] = (2, "BatchNorm needs a batch")

    # ------------------------------------------------------------------ helpers
    def _data_architecture(self) -> dict:
        return {"channels": self.channels_}

    def _set_data_architecture(self, arch: dict) -> None:
        self.channels_ = int(arch["channels"])

    def _prepare(self, images, name: str = "images") -> torch.Tensor:
        x = as_images(images, name)
        fitted_c = getattr(self, "channels_", None)
        if fitted_c is not None and x.shape[1] != fitted_c:
            raise ValueError(f"{name} have {x.shape[1]} channels but the detector was fitted on {fitted_c}")
        return x

    def _resize(self, x: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """``x`` at the working size (or ``size``), by the package's one rule (:func:`anotutor.data.images.resize`)."""
        return resize(x, size if size is not None else self.params_["image_size"])

    # ------------------------------------------------------------------ the contract
    def supports_size(self, size: int) -> str | None:
        """None when this detector, with its other settings, works at ``size`` x ``size`` pixels; else
        why not, in words a reader can act on (e.g. a U-Net's multiple of 2^depth). Nothing else is
        judged: ``anotutor compare`` asks this before it builds a method at a folder's working size."""
        try:
            self._check_size(check_int(size, "image_size", minimum=1))
        except ValueError as err:
            return str(err)
        return None

    def _check_size(self, size: int) -> None:
        """Raise a ValueError when the networks cannot take ``size``: the spec's ``image_size`` rule
        under this detector's other settings (any size where it has none)."""
        if "image_size" in self._spec:
            self._checked({**self.get_params(), "image_size": size})

    def _anomaly_use(self) -> str | None:
        """What this configuration does with known anomalies, when it needs them (the words of fit's
        error without them); None when it learns from normal images alone (the default)."""
        return None

    @property
    def uses_anomalies(self) -> bool:
        """Whether ``fit`` needs known anomalies with these settings (Noisy-AnoGAN, PNUNet's positive
        masks): the analogue of anomalib's ``learning_type``."""
        return self._anomaly_use() is not None

    def fit(self, images, anomalies=None) -> Detector:
        """Learn from normal ``images`` (and, for methods that use them, a few ``anomalies``).

        The checks every method shares run first, before anything is built:
        the images (:func:`anotutor.checks.as_images`), their number
        (``_min_train_images``) and, where the settings use them
        (:attr:`uses_anomalies`), the known anomalies.
        """
        x = as_images(images, "images")
        a = None
        if anomalies is not None:
            a = as_images(anomalies, "anomalies")
            if a.shape[1] != x.shape[1]:
                raise ValueError(f"anomalies have {a.shape[1]} channels but images {x.shape[1]}")
        use = self._anomaly_use()
        if use is not None and (a is None or a.shape[0] == 0):
            raise ValueError(f"{use}: pass some as fit(images, anomalies=...)")
        least, why = self._min_train_images
        if x.shape[0] < least:
            raise ValueError(f"{type(self).__name__} needs at least {least} training images ({why}), got {x.shape[0]}")
        size = self.resolve_params()["image_size"]
        x = self._resize(x, size)
        a = None if a is None else self._resize(a, size)

        def train(new: Detector, g: torch.Generator) -> dict:
            new.channels_ = x.shape[1]
            return new._fit(x, a, g)

        return self._run_fit(train)

    @torch.no_grad()
    def predict(self, images, batch_size: int = 64, seed: int = 0, progress: bool = False) -> Detection:
        """Scores [N] and maps [N, H, W] at the input's size.

        ``progress`` shows a bar over the batches (for long inference, e.g.
        a latent search over a folder of hundreds of images).

        ``seed`` drives any random draw of the inference (e.g. a latent
        search's starting points). ``ms_per_image`` leaves out a warm-up
        call on the first image (first calls allocate memory and pick kernels).
        """
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        seed = check_int(seed, "seed", minimum=0)
        x = self._prepare(images, "images")
        h, w = x.shape[-2:]
        dev = self.device_
        self._predict(self._resize(x[:1]).to(dev), torch.Generator().manual_seed(seed))  # warm-up
        g = torch.Generator().manual_seed(seed)
        scores: list[torch.Tensor] = []
        maps: list[torch.Tensor] = []
        extras: dict[str, list[torch.Tensor]] = {}
        with Timer(dev) as t:
            starts = range(0, x.shape[0], batch_size)
            for i in progress_bar(starts, f"{type(self).__name__} inference", progress and len(starts) > 1):
                s, m, e = self._predict(self._resize(x[i : i + batch_size]).to(dev), g)
                scores.append(s.detach().float().cpu())
                maps.append(m.detach().float().cpu())
                for k, v in e.items():
                    extras.setdefault(k, []).append(v.detach().cpu())
        maps_t = torch.cat(maps)
        if maps_t.shape[-2:] != (h, w):
            maps_t = F.interpolate(maps_t[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        out_extras = {}
        for k, v in extras.items():
            v = torch.cat(v)
            mode = self._extras_resize.get(k)
            if mode is not None and v.shape[-2:] != (h, w):
                flat = v.dim() == 3  # a map: resized as one channel
                kw = {"align_corners": False} if mode == "bilinear" else {}
                v = F.interpolate(v[:, None] if flat else v.float(), size=(h, w), mode=mode, **kw).clamp(0, 1)
                v = v[:, 0] if flat else v
            out_extras[k] = v
        return Detection(
            torch.cat(scores), maps_t.clamp_min(0), t.ms_per(x.shape[0]), out_extras, getattr(self, "threshold_", None)
        )

    def score_files(
        self, paths, batch_size: int = 16, workers: int = 0, on_error=None, seed: int = 0, tile=None, overlap=None
    ):
        """Score image files lazily: yields ``(path, score, verdict, map)`` per file, in order
        (:class:`~.score_files.Scored`; the map [H, W] at the file's own size, the verdict at
        ``threshold_``, None without one).

        Files are decoded and resized by ``workers`` ``DataLoader`` processes (0: this one) and
        scored ``batch_size`` at a time; memory stays flat however many there are. An unreadable
        file raises a ``ValueError`` naming it, or, given ``on_error(path, reason)``, is reported
        there and skipped. ``seed``: as :meth:`predict`'s. ``tile``, ``overlap``: score each file in
        tiles of ``tile`` px at its own resolution (:mod:`anotutor.data.tiles`), for a model fitted on
        such tiles; by default the tiling it was fitted with (``tiling_``, which ``anotutor.load`` sets
        from the model folder), else none.
        """
        from .score_files import score_files

        tiling = getattr(self, "tiling_", None) or {}
        tile = tiling.get("tile") if tile is None else tile
        overlap = tiling.get("overlap", 0) if overlap is None else overlap
        return score_files(self, paths, batch_size, workers, on_error, seed, tile, overlap or 0)

    def torch_model(self) -> ScoringModule:
        """This fitted detector's inference as one torch module, in eval mode, on ``device_``.

        ``module(x)`` gives ``(scores [N], maps [N, s, s])`` for images ``x``
        [N, C, s, s] in [0, 1] at the working size ``s = params_["image_size"]``
        (no checks, no resizing: :meth:`predict` does those); it holds the
        detector's networks and learned tensors, shared, not copied.
        ``module.not_exportable`` says why a method cannot be traced (None
        when it can).
        """
        self._check_fitted()
        return self._module().eval()

    # ------------------------------------------------------------------ for subclasses
    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None, generator: torch.Generator) -> dict:
        raise NotImplementedError  # pragma: no cover

    def _module(self) -> ScoringModule:
        raise NotImplementedError  # pragma: no cover

    def _predict(self, x: torch.Tensor, generator: torch.Generator):
        return self._module().explain(x, generator)
