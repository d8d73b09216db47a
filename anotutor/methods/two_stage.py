r"""The two-stage anomaly segmentation model (Shah and Kim, 2022).

Two segmentation U-Nets (:class:`anotutor.models.unet.UNet`, logits, a sigmoid
at use) learn, from normal images alone, to draw the mask of an anomaly that
was pasted into them: the pseudo-anomalies of :mod:`anotutor.data.synth`.

**Stage 1** sees a normal training image, of which a share (``anomaly_share``,
half by default) carry a pseudo-anomaly made on the fly: a DRAEM-style Perlin
blob (``pseudo="perlin"``) or, with ``pseudo="both"``, half of them Perlin
blobs and half Shah and Kim's superpixel anomalies (whole SLIC superpixels
replaced, :func:`~anotutor.data.synth.slic_anomaly`). Inside the mask goes a
foreign texture: the package's own fractal pattern
(:func:`~anotutor.data.synth.fractal_texture`; no external data set), by
default (``source="augmented"``) through three random intensity augmentations
of the kind DRAEM applies to its texture images
(:func:`~anotutor.data.synth.foreign_textures`: gamma, brightness, invert,
solarize, posterize, autocontrast); ``source="fractal"`` pastes the plain
pattern. On colour images the pattern is drawn once, in grey, and given one
random colour (:func:`colour_sources`), as a photographed texture has one
structure in all its channels: drawn in each channel apart it was
multicoloured noise, and a model trained on it learned to find colour noise
and missed defects that differ from the part in brightness and structure
alone (``benchmarks/two_stage_colour.md``; grayscale images are unchanged).
With the plain pattern the network learns to find *that pattern*; chapter
6's reproducibility notes measure what the augmentations buy. The
target :math:`y` is the exact inserted mask (all zeros for a normal image),
and the loss is the paper's eqs. 1 to 4 on :math:`\hat y = \sigma(f(x))`,

.. math::  L = \underbrace{\overline{(y - \hat y)^2}}_{\text{LSE, eq. 1}}
             + \underbrace{1 - \mathrm{SSIM}(y, \hat y)}_{\text{eqs. 2, 3}} .

(The paper sums the squared errors; we average them over the pixels, which
has the same minimiser and keeps the term on the SSIM term's scale. SSIM is
the one of :mod:`anotutor.losses`, with Wang et al.'s denominator.)

**Refinement** (:func:`~anotutor.methods.refinement.refine`): the stage-1
map completed or dropped superpixel by superpixel (:mod:`.refinement`).

**Stage 2**, our reading (the paper says only that the second model "is
trained on small patches" extracted by comparing the stage-1 prediction with
the superpixels): a second U-Net takes ``C + 2`` channels, the image, the
stage-1 probability map and the refined superpixel map, and is trained with
the same loss against the same kind of pseudo-anomaly masks, made afresh (so
stage 2 sees stage 1's behaviour on images stage 1 never trained on), with
stage 1 frozen. It can so learn when to trust a refined patch (recover the
whole pattern) and when to drop a mark (suppress noise), and it still sees
the raw stage-1 map where refinement dropped a true but small defect. (The
other reading, stage 2 seeing only the image inside the refined patches,
cannot recover an anomaly that refinement dropped.) Stage 2's output is a
*correction* of stage 1's logits, :math:`z_2 = z_1 + g(x, \sigma(z_1), r)`,
whose last layer starts at zero, so that before training stage 2 repeats
stage 1 exactly and a short run can only move it from there; trained from
scratch instead, stage 2 measured worse than stage 1 on every texture.

**BatchNorm recalibration.** After each stage's run the BatchNorm running
statistics are recomputed under the final weights from a few training-like
batches (:func:`anotutor.methods.training.recalibrate_batchnorm`): in a short run the weights move
faster than the running averages follow, and a network scored in ``eval``
mode with stale statistics is not the network that was trained.

**What was measured** lives in the results and the book, not here: chapter
6 shows each stage, the pseudo-anomaly kinds and the stage-2 readings
against the brightness floor by the book's one uncertainty rule, and
``benchmarks/ablations.py two_stage_design`` switches off each of the three
choices above (augmented texture, zero start, recalibration) on the
validation splits (chapter 6's reproducibility notes show the table, and
which choices it supports). The defaults are the ones the shipped weights
and the committed results were made with.

**Inference**: the map is the stage-2 probability (or the stage-1
probability, ``stages=1``), the image score the mean of its top 1 %
(:func:`~anotutor.methods.scores.top_fraction_score`). One fitted model
gives both: ``with_params(stages=1)`` is a view of it that stops after stage
1 (``fit`` always trains both stages). ``predict(...).extras`` holds
``"stage1"`` (the stage-1 probability) and, with two stages, ``"refined"``
(the refined superpixel map), both [N, H, W] at the input's size;
:meth:`TwoStage.stage_ms` times each stage separately.

Sizes: ``image_size`` a multiple of 2^``depth`` and at least 16 (the SSIM
window is 11 px); grayscale or colour.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checks import as_images, check_int
from ..data import synth
from ..losses import segment_loss
from ..models.unet import UNet, unet_size_ok
from ..ops import count_parameters
from ..runtime import Timer
from .base import Detector
from .params import ARCHITECTURE, INFERENCE, TRAINING, TRAINING_SPEC, choice, custom, flag, integer, real, working_size
from .refinement import cut_windows, patch_size
from .training import draw_batch, train_steps
from .two_stage_scorer import TwoStageScorer

__all__ = [
    "TwoStage",
    "TwoStageScorer",
    "stage_networks",
    "design_parameters",
    "PSEUDO_KINDS",
    "SOURCES",
    "STAGE2_READINGS",
    "colour_sources",
]

PSEUDO_KINDS = ("perlin", "both")
STAGE2_READINGS = ("residual", "patches")
SOURCES = ("augmented", "fractal")
# default steps, as shares of the budget's: under ci (225) 135 + 45 steps. Stage 2 gets a third of
# stage 1's steps (steps2=None), whatever sets those.
STEP_FACTOR_1 = 0.6
STAGE2_DIVISOR = 3
STEP_FACTOR_2 = STEP_FACTOR_1 / STAGE2_DIVISOR  # stage 2's default share of the budget's steps
TINT = (0.75, 1.25)  # colour pseudo-anomalies: the per-channel gains of the grey pattern's colour


def _stage_count(v) -> int:
    if isinstance(v, bool) or v not in (1, 2):
        raise ValueError(f"stages must be 1 or 2, got {v!r}")
    return int(v)


def colour_sources(
    n: int,
    channels: int,
    height: int,
    width: int,
    rng: np.random.Generator,
    augment: bool = True,
    tint: tuple[float, float] = TINT,
) -> torch.Tensor:
    """``n`` foreign textures [n, C, H, W] for colour images: one grey pattern each
    (:func:`~anotutor.data.synth.foreign_textures`, one channel, through its intensity augmentations
    when ``augment``) times a random colour, a gain per channel uniform in ``tint``, clipped to [0, 1].

    A pattern drawn independently in every channel (what ``foreign_textures(n, 3, ...)`` gives) is
    multicoloured noise, unlike any photograph; a network trained on it learns to find *colour
    noise* and misses what differs from the image in brightness and structure alone, as most
    surface defects do (``benchmarks/two_stage_colour.md``).
    """
    grey = synth.foreign_textures(n, 1, height, width, seed=rng, augment=augment)
    gains = torch.from_numpy(rng.uniform(*tint, size=(n, channels, 1, 1))).float()
    return (grey * gains).clamp(0.0, 1.0)


def stage_networks(
    channels: int, width: int, width2: int, depth: int, zero_init: bool = True, reading: str = "residual"
) -> tuple[nn.Module, nn.Module]:
    """The two U-Nets: stage 1 sees the image; stage 2, in the ``"residual"``
    reading, the image, stage 1's map and the refined map, in the ``"patches"``
    reading a patch of the image alone.

    With ``zero_init`` (residual reading only) stage 2's last layer starts at
    zero, so that before training it adds a zero correction to stage 1's
    logits; without it, the layer keeps PyTorch's default initialisation.
    """
    if reading not in STAGE2_READINGS:
        raise ValueError(f"stage2 must be one of {STAGE2_READINGS}, got {reading!r}")
    stage1 = UNet(channels, 1, width, depth, out="logits")
    inputs2 = channels + 2 if reading == "residual" else channels
    stage2 = UNet(inputs2, 1, width2, depth, out="logits")
    if zero_init and reading == "residual":
        nn.init.zeros_(stage2.head.weight)
        if stage2.head.bias is not None:
            nn.init.zeros_(stage2.head.bias)
    return stage1, stage2


def design_parameters(channels: int = 3, width: int = 40, depth: int = 4, width2: int | None = None) -> dict[str, int]:
    """Parameters of the two stages at any size, counted on the ``meta`` device (nothing allocated).

    The defaults, colour at width 40 and depth 4, are one way to reach the
    paper's 23.9 M with the book's design.
    """
    with torch.device("meta"):
        a, b = stage_networks(channels, width, width2 or width, depth)
    n1, n2 = count_parameters(a), count_parameters(b)
    return {"stage1": n1, "stage2": n2, "total": n1 + n2}


class TwoStage(Detector):
    r"""Shah and Kim's two-stage model behind the Detector contract (see the module docstring).

    ``image_size``: a multiple of 2^``depth``, at least 16; ``width``,
    ``depth``: both U-Nets (``width2``: stage 2's width, ``None`` for
    ``width``); ``pseudo``: ``"perlin"`` or ``"both"`` (Perlin and superpixel
    pseudo-anomalies, half each); ``source``: the foreign texture,
    ``"augmented"`` (fractal patterns through DRAEM-like intensity
    augmentations) or ``"fractal"`` (the plain pattern); ``anomaly_share``: the share of each
    training batch that gets a pseudo-anomaly; ``n_segments``: SLIC
    superpixels per image for the refinement; ``mark``, ``cover``: the
    refinement rule of :func:`refine`; ``stages``: 2 (the refined map) or 1
    (stage 1's map) at predict time. ``steps`` (stage 1), ``steps2`` (stage
    2), ``batch_size``, ``lr``: Adam; ``None`` takes the budget's value in
    ``fit`` (:data:`STEP_FACTOR_1` and :data:`STEP_FACTOR_2` times the
    budget's steps). ``augment``: rotations, flips and faint noise of the
    normal images, before the pseudo-anomaly goes in. ``zero_init``: stage
    2's correction starts at zero; ``recalibrate``: BatchNorm statistics
    recomputed after each stage's run (both design choices of the module
    docstring, on by default; ``benchmarks/ablations.py two_stage_design``
    measures each on the validation splits).

    ``fit(images)`` trains both stages (known ``anomalies`` are not used: the
    method makes its own). Learned state: ``stage1_``, ``stage2_``, the
    seconds each stage trained (``stage_seconds_``), the stage view
    ``stages_`` and the training log (``history_["loss1"]``,
    ``history_["loss2"]``: one loss per step).
    """

    _spec = {
        "depth": integer(ARCHITECTURE, "depth", maximum=6),
        "image_size": working_size(lambda v, p: unet_size_ok(v, p["depth"]), minimum=16),
        "width": integer(ARCHITECTURE, "width"),
        "width2": integer(ARCHITECTURE, "width2", optional=True),
        "stage2": choice(ARCHITECTURE, "stage2", STAGE2_READINGS),
        "pseudo": choice(TRAINING, "pseudo", PSEUDO_KINDS),
        "source": choice(TRAINING, "source", SOURCES),
        "anomaly_share": real(TRAINING, "anomaly_share", 0.0, 1.0, low_open=True, high_open=True),
        "n_segments": integer(TRAINING, "n_segments", minimum=2),
        "mark": real(TRAINING, "mark", 0.0, 1.0, low_open=True),
        "cover": real(TRAINING, "cover", 0.0, 1.0, low_open=True),
        "stages": custom(INFERENCE, lambda v, p: _stage_count(v)),
        **TRAINING_SPEC,
        "steps2": integer(TRAINING, "steps2", optional=True),
        "augment": flag(TRAINING, "augment"),
        "zero_init": flag(TRAINING, "zero_init"),
        "recalibrate": flag(TRAINING, "recalibrate"),
    }
    _networks = ("stage1_", "stage2_")
    _extras_resize = {"stage1": "bilinear", "refined": "nearest", "windows": "nearest"}

    def __init__(
        self,
        image_size: int | None = None,
        width: int = 8,
        width2: int | None = None,
        depth: int = 3,
        pseudo: str = "both",
        source: str = "augmented",
        anomaly_share: float = 0.5,
        n_segments: int = 64,
        mark: float = 0.5,
        cover: float = 0.25,
        stages: int = 2,
        steps: int | None = None,
        steps2: int | None = None,
        batch_size: int | None = None,
        lr: float = 2e-3,
        augment: bool = True,
        zero_init: bool = True,
        recalibrate: bool = True,
        stage2: str = "residual",
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        self._store(locals())

    def _defaults(self, params: dict, b) -> dict:
        steps = params["steps"] if params["steps"] is not None else max(1, round(STEP_FACTOR_1 * b.steps))
        return {
            "image_size": b.image_size,
            "steps": steps,
            "batch_size": b.batch_size,
            "width2": params["width"],
            "steps2": max(1, steps // STAGE2_DIVISOR),  # stage 2 gets a third of stage 1's steps
        }

    def _build_networks(self) -> dict:
        p = self.params_
        stage1, stage2 = stage_networks(
            self.channels_, p["width"], p["width2"], p["depth"], p["zero_init"], p["stage2"]
        )
        return {"stage1_": stage1, "stage2_": stage2}

    # ------------------------------------------------------------------ views and counts
    def _viewed(self) -> None:
        self.stages_ = self.params_["stages"]

    def restage(self, images, **changes) -> TwoStage:
        """A new model with this one's stage 1 (the same weights, frozen) and stage 2 trained afresh on
        ``images`` with other stage-2 settings (``stage2``, ``steps2``, ``width2``, ``zero_init``).

        Stage-2 designs compared on one stage 1 differ in stage 2 alone, and
        the stage-1 run is paid once. (Its stage 2 sees other random batches
        than ``fit`` with the same settings would draw.)
        """
        self._check_fitted()
        unknown = sorted(set(changes) - {"stage2", "steps2", "width2", "zero_init"})
        if unknown:
            raise ValueError(f"restage changes stage-2 settings only, not {unknown}")
        fresh = TwoStage(
            **{**{k: self.params_[k] for k in self.param_names()}, **changes},
            device=self.device,
            progress=self.progress,
        )
        x = self._resize(as_images(images, "images"), self.params_["image_size"])
        if x.shape[1] != self.channels_:
            raise ValueError(f"images have {x.shape[1]} channels, the model {self.channels_}")

        def train(new: TwoStage, g: torch.Generator) -> dict:
            new.channels_, new.stage1_, new.stages_ = self.channels_, self.stage1_, 2
            new.stage2_ = new._build_networks()["stage2_"].to(new.device_)
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
            with Timer(new.device_) as t:
                loss2 = new._fit_stage2(x, g, rng)
            new.stage_seconds_ = {"stage1": self.stage_seconds_["stage1"], "stage2": t.seconds}
            return {"loss1": self.history_["loss1"], "loss2": loss2}

        return fresh._run_fit(train, device=self.device_)

    def stage_parameters(self) -> dict[str, int]:
        """Learned parameters per stage: ``{"stage1": ..., "stage2": ..., "total": ...}``."""
        self._check_fitted()
        a, b = count_parameters(self.stage1_), count_parameters(self.stage2_)
        return {"stage1": a, "stage2": b, "total": a + b}

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict:
        return {"stages": self.stages_, "stage_seconds": dict(self.stage_seconds_)}

    def _set_state(self, state: dict) -> None:
        stages = state["stages"]
        if stages not in (1, 2):
            raise ValueError(f"stage view {stages!r} is not 1 or 2")
        self.stages_ = int(stages)
        self.stage_seconds_ = {k: float(v) for k, v in state["stage_seconds"].items()}

    # ------------------------------------------------------------------ training data
    def _pseudo_batch(self, xb: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A copy of the (CPU) batch with pseudo-anomalies in a share of it, and the
        masks [N, 1, H, W]."""
        n = xb.shape[0]
        k = min(n, max(1, int(round(self.params_["anomaly_share"] * n))))
        chosen = rng.permutation(n)[:k]
        if self.params_["pseudo"] == "both":
            slic_first = rng.random() < 0.5  # an odd k: the extra one to either kind
            n_perlin = k // 2 + (k % 2 if not slic_first else 0)
        else:
            n_perlin = k
        h, w = xb.shape[-2:]
        out, masks = xb.clone(), torch.zeros(n, 1, h, w)
        sources = None  # synth's fractal texture
        if xb.shape[1] > 1:  # colour: a grey pattern in one colour, never independent channels
            sources = colour_sources(k, xb.shape[1], h, w, rng, augment=self.params_["source"] == "augmented")
        elif self.params_["source"] == "augmented":
            sources = synth.foreign_textures(k, 1, h, w, seed=rng)
        for idx, make in ((chosen[:n_perlin], synth.perlin_anomaly), (chosen[n_perlin:], synth.slic_anomaly)):
            if len(idx):
                rows = torch.as_tensor(idx)
                out[rows], m = make(xb[rows], seed=rng, sources=sources)
                masks[rows, 0] = m
        return out, masks

    def _batch(self, x: torch.Tensor, g: torch.Generator, rng: np.random.Generator):
        xb = draw_batch(x, self.params_["batch_size"], g, self.params_["augment"])
        xb, masks = self._pseudo_batch(xb, rng)
        return xb.to(self.device_), masks.to(self.device_)

    # ------------------------------------------------------------------ training
    def _train(self, net, steps: int, desc: str, forward, x, g, rng) -> np.ndarray:
        """One stage's run (:func:`~anotutor.methods.training.train_steps`): ``forward(batch, masks)``
        runs the stage being trained on a batch with pseudo-anomalies and returns its logits and their
        target masks, both [N, 1, h, w]; the loss is eq. 4. BatchNorm is recalibrated after the run
        unless ``recalibrate=False``."""

        def step_loss():
            return segment_loss(*forward(*self._batch(x, g, rng)))  # eq. 4

        recalibrate = (lambda: forward(*self._batch(x, g, rng))) if self.params_["recalibrate"] else None
        return train_steps(net, steps, self.params_["lr"], step_loss, desc, self.progress, recalibrate=recalibrate)

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None, g: torch.Generator) -> dict:
        p = self.params_
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
        nets = self._build_networks()
        self.stage1_, self.stage2_ = (nets[k].to(self.device_) for k in self._networks)
        self.stages_ = p["stages"]
        with Timer(self.device_) as t1:
            loss1 = self._train(
                self.stage1_,
                p["steps"],
                f"two-stage: stage 1 ({p['pseudo']})",
                lambda xb, masks: (self.stage1_(xb), masks),
                x,
                g,
                rng,
            )

        with Timer(self.device_) as t2:
            loss2 = self._fit_stage2(x, g, rng)
        self.stage_seconds_ = {"stage1": t1.seconds, "stage2": t2.seconds}
        return {"loss1": loss1, "loss2": loss2}

    def _fit_stage2(self, x, g, rng) -> np.ndarray:
        reading, m = self.params_["stage2"], self._module()  # the module's stages: stage 1 frozen, 2 training

        def residual(xb, masks):
            with torch.no_grad():  # stage 1 is frozen
                z1 = m.logits1(xb)
                r = m.refined(xb, torch.sigmoid(z1))
            return m.logits2(xb, z1, r)[:, None], masks

        def patches(xb, masks):
            with torch.no_grad():
                r = m.refined(xb, torch.sigmoid(m.logits1(xb)))
            where = m.windows(r)
            if not where:  # stage 1 marked nothing in the whole batch: one window per image, drawn at random
                top = xb.shape[-1] - m.patch
                where = [(n, int(rng.integers(0, top + 1)), int(rng.integers(0, top + 1))) for n in range(xb.shape[0])]
            return self.stage2_(cut_windows(xb, where, m.patch)), cut_windows(masks, where, m.patch)

        return self._train(
            self.stage2_,
            self.params_["steps2"],
            f"two-stage: stage 2 ({reading})",
            residual if reading == "residual" else patches,
            x,
            g,
            rng,
        )

    # ------------------------------------------------------------------ inference
    def _module(self) -> TwoStageScorer:
        p = self.params_
        return TwoStageScorer(
            self.stage1_,
            self.stage2_,
            p["stage2"],
            self.stages_,
            p["n_segments"],
            p["mark"],
            p["cover"],
            patch_size(p["image_size"], p["depth"]),
        )

    @torch.no_grad()
    def stage_ms(self, images, batch_size: int = 64) -> dict[str, float]:
        """Inference milliseconds per image of each part: ``stage1``, ``refine`` (SLIC and :func:`refine`),
        ``stage2`` and their ``total`` (a warm-up image excluded; at ``image_size``)."""
        self._check_fitted()
        batch_size = check_int(batch_size, "batch_size")
        x = self._resize(self._prepare(images, "images")).to(self.device_)
        m = self._module()
        z1 = m.logits1(x[:1])
        m.stage2_map(x[:1], z1, m.refined(x[:1], torch.sigmoid(z1)))  # warm-up
        times = {"stage1": 0.0, "refine": 0.0, "stage2": 0.0}
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            with Timer(self.device_) as t:
                z1 = m.logits1(xb)
                p1 = torch.sigmoid(z1)
            times["stage1"] += t.seconds
            with Timer(self.device_) as t:
                r = m.refined(xb, p1)
            times["refine"] += t.seconds
            with Timer(self.device_) as t:
                m.stage2_map(xb, z1, r)
            times["stage2"] += t.seconds
        out = {k: 1000.0 * v / x.shape[0] for k, v in times.items()}
        out["total"] = sum(out.values())
        return out
