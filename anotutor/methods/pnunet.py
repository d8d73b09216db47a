r"""PNUNet (Kimura, 2020): a U-Net that removes noise, with noise masks updated by self-training.

**Noise removal** (the paper's eq. 1). A reconstructor :math:`f_r` (a U-Net)
learns to map a noisy image back to the clean one,

.. math::  L = 1 - \mathrm{SSIM}\big(x, f_r(x + z)\big), \qquad z \sim U(-a, a),

so that at test time :math:`|x - f_r(x)|` lights up what :math:`f_r` treats
as noise: the anomaly map, in one forward pass.

**Noise masks** (eqs. 2 and 3), recomputed every ``mask_every`` steps (the
paper: every 1,000 iterations) from the reconstructor as it is then:

* positive, from known anomalous images :math:`x_p`:
  :math:`z_p = z \cdot |x_p - f_r(x_p)|`: the noise is made strong where
  :math:`f_r` leaves residual on real anomalies, so it learns to remove noise
  *like them* (the paper's first failure mode of plain uniform noise);
* negative, from normal images :math:`x_n`. The paper prints
  :math:`z_n = 1 - z \cdot |x_n - f_r(x_n)|`, which would add a constant 1
  to every pixel; we read it as :math:`z_n = z \cdot (1 - |x_n - f_r(x_n)|)`:
  the noise is weakened where even normal images keep residual (brightness
  changes, texture the network never rebuilds), so it stops learning to
  remove what is always there (the second failure mode). ``negative="printed"``
  keeps the printed form for comparison.

**Readings where the paper is silent** (stated here and in the chapter):
each residual map is smoothed (Gaussian, 2 px) and divided by its maximum,
so a mask lies in [0, 1] and keeps the noise's amplitude where the residual
peaks; the masks form a pool (``n_masks`` of each kind), and every training
image draws one positive and one negative mask from it, rolled by a random
offset and flipped at random, so the pseudo-anomalies fall anywhere; the
noise on that image is :math:`z \cdot m_p \cdot (1 - m_n)` (``masks="both"``),
:math:`z \cdot m_p` (``"positive"``), :math:`z \cdot (1 - m_n)`
(``"negative"``) or plain :math:`z` (``"none"``, the uniform-noise baseline).
The alternative reading of "both", ``combine="mix"``, treats eqs. 2 and 3
as two kinds of noise: each image gets :math:`z \cdot m_p` or
:math:`z \cdot (1 - m_n)`, by a fair coin. ``negative_source="aligned"``
computes each image's negative mask from that image itself (its residual
under the reconstructor as it was at the last update), so the mask sits on
the joints it came from instead of a rolled, flipped copy of another
image's. Until the first update both masks are all ones and all zeros (plain noise).
The paper does not say how many anomalous images it used: every image
given as ``anomalies`` makes a positive mask (up to ``n_masks``).

**Inference**: the map is :math:`|x - f_r(x)|` (the largest difference over
channels), optionally smoothed (``smooth`` px); the image score is the mean
of the top 1 % of the map.
"""

from __future__ import annotations

import copy

import torch

from ..losses import ssim_loss
from ..models.unet import UNet, unet_size_ok
from ..ops import uniform
from .base import Detector
from .params import ARCHITECTURE, INFERENCE, TRAINING, TRAINING_SPEC, choice, flag, integer, real, working_size
from .scores import ReconstructionScorer, residual_map
from .scores import smooth_maps as _smooth
from .training import draw_batch, train_steps

__all__ = ["PNUNet", "MASK_MODES", "COMBINE_MODES", "NEGATIVE_SOURCES"]

MASK_MODES = ("none", "negative", "positive", "both")
COMBINE_MODES = ("product", "mix")
NEGATIVE_SOURCES = ("pool", "aligned")
STEP_FACTOR = 4


class PNUNet(Detector):
    r"""PNUNet behind the Detector contract.

    ``image_size``: a multiple of 2^``depth``; ``width``, ``depth``: the U-Net;
    ``amplitude``: a of the uniform noise :math:`U(-a, a)`; ``masks``: which
    noise masks shape it (:data:`MASK_MODES`); ``negative``: ``"read"``
    (:math:`z (1 - r)`, our reading of eq. 3) or ``"printed"``
    (:math:`1 - z r`); ``combine``: with both masks, ``"product"`` (one noise
    shaped by both) or ``"mix"`` (each image positive or negative noise);
    ``negative_source``: ``"pool"`` (a rolled, flipped mask of another
    normal image) or ``"aligned"`` (the image's own residual under the
    reconstructor of the last update);
    ``mask_every``: steps between mask updates (``None``:
    a quarter of the training); ``n_masks``: masks of each kind in the pool;
    ``smooth``: Gaussian smoothing of the predicted map (px, 0 for none).
    ``steps``, ``batch_size``, ``lr``: Adam; ``None`` takes the budget's value
    in ``fit`` (steps: 4 x the budget's).

    ``fit(images, anomalies)``: ``anomalies`` are needed for positive masks.
    The default, ``masks="negative"``, needs none, so it works on a folder of
    normal images alone; chapter 5 compares the mask modes on validation
    splits (``benchmarks/ablations.py``) and says why this one is the
    default.
    Learned state: ``model_`` (the reconstructor), the mask pools
    ``positive_`` and ``negative_`` [n, H, W], ``mask_history_`` (the first
    mask of each kind at every update, [updates, 2, H, W]) and the training log.
    """

    masks: str  # a constructor argument read before fit
    _spec = {
        "depth": integer(ARCHITECTURE, "depth", maximum=6),
        "image_size": working_size(lambda v, p: unet_size_ok(v, p["depth"])),
        "width": integer(ARCHITECTURE, "width"),
        "amplitude": real(TRAINING, "amplitude", 0.0, 1.0, low_open=True),
        "masks": choice(TRAINING, "masks", MASK_MODES),
        "negative": choice(TRAINING, "negative", ("read", "printed")),
        "combine": choice(TRAINING, "combine", COMBINE_MODES),
        "negative_source": choice(TRAINING, "negative_source", NEGATIVE_SOURCES),
        "mask_every": integer(TRAINING, "mask_every", optional=True),
        "n_masks": integer(TRAINING, "n_masks"),
        "smooth": real(INFERENCE, "smooth", 0.0, 20.0),
        **TRAINING_SPEC,
        "augment": flag(TRAINING, "augment"),
    }

    def __init__(
        self,
        image_size: int | None = None,
        width: int = 16,
        depth: int = 3,
        amplitude: float = 0.5,
        masks: str = "negative",
        negative: str = "read",
        combine: str = "product",
        negative_source: str = "pool",
        mask_every: int | None = None,
        n_masks: int = 32,
        smooth: float = 0.0,
        steps: int | None = None,
        batch_size: int | None = None,
        lr: float = 2e-3,
        augment: bool = True,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        self._store(locals())

    def _anomaly_use(self) -> str | None:
        if self.masks in ("positive", "both"):
            return (
                f"masks={self.masks!r} builds positive masks from known anomalies (eq. 2; "
                "masks='negative' or 'none' needs none)"
            )
        return None

    def _defaults(self, params: dict, b) -> dict:
        steps = params["steps"] if params["steps"] is not None else STEP_FACTOR * b.steps
        # masks are updated four times in a run, whatever its length
        return {
            "image_size": b.image_size,
            "steps": steps,
            "batch_size": b.batch_size,
            "mask_every": max(1, steps // 4),
        }

    def _build_networks(self) -> dict:
        p = self.params_
        return {"model_": UNet(self.channels_, self.channels_, p["width"], p["depth"], out="sigmoid")}

    # ------------------------------------------------------------------ masks
    def _residual_masks(self, x: torch.Tensor, net=None) -> torch.Tensor:
        """Smoothed residual maps of ``x`` under ``net`` (default: the current reconstructor),
        each scaled to max 1 [N, H, W]."""
        net = self.model_ if net is None else net
        was_training = net.training
        net.eval()
        with torch.no_grad():
            r = torch.cat([residual_map(xb, net(xb)) for xb in x.split(64)])
        net.train(was_training)
        r = _smooth(r, 2.0)
        return r / r.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]

    def _draw(self, pool: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
        """``n`` masks from ``pool``, each rolled by a random offset and flipped at random."""
        idx = torch.randint(0, pool.shape[0], (n,), generator=g)
        h, w = pool.shape[-2:]
        shifts = torch.randint(0, max(h, w), (n, 2), generator=g)
        flips = torch.rand(n, 2, generator=g) < 0.5
        # roll then flip, as one gather: row y of the result is row (y' - shift) mod h of the
        # mask, with y' = h - 1 - y where the rows are flipped (and the same for columns)
        ys, xs = torch.arange(h), torch.arange(w)
        ys = torch.where(flips[:, :1], h - 1 - ys, ys)
        xs = torch.where(flips[:, 1:], w - 1 - xs, xs)
        rows = (ys - shifts[:, :1] % h) % h
        cols = (xs - shifts[:, 1:] % w) % w
        return pool[idx[:, None, None], rows[:, :, None], cols[:, None, :]]

    def _noise(self, xb: torch.Tensor, g: torch.Generator, parts: bool = False):
        """The training noise for a batch: uniform, shaped by the masks of eqs. 2 and 3.

        With ``parts``, a dict of the uniform noise, the two masks drawn for
        each image (ones and zeros where a mask is not used) and the result.
        """
        p = self.params_
        z = uniform(xb.shape, p["amplitude"], g, xb.device)
        n = xb.shape[0]
        m_p = torch.ones(n, 1, *xb.shape[-2:], device=xb.device)
        m_n = torch.zeros_like(m_p)
        positive = self.positive_ if p["masks"] in ("positive", "both") else None
        negative = self.negative_ if p["masks"] in ("negative", "both") else None
        use_p, use_n = positive is not None, negative is not None
        if positive is not None:
            m_p = self._draw(positive, n, g).to(xb.device)[:, None]
        if negative is not None:
            if p["negative_source"] == "aligned":
                # the image's own residual, under the reconstructor as it was at the last update
                m_n = self._residual_masks(xb, getattr(self, "_mask_net", None))[:, None]
            else:
                m_n = self._draw(negative, n, g).to(xb.device)[:, None]
        if use_p and use_n and p["combine"] == "mix":
            # each image gets either positive or negative noise: which one is its own coin
            coin = (torch.rand(n, generator=g) < 0.5).to(xb.device)[:, None, None, None]
            m_p = torch.where(coin, m_p, torch.ones_like(m_p))
            m_n = torch.where(coin, torch.zeros_like(m_n), m_n)
        noise = z * m_p  # eq. 2
        if use_n:
            noise = noise * (1 - m_n) if p["negative"] == "read" else 1 - noise * m_n  # eq. 3
        if parts:
            return {"uniform": z, "positive": m_p, "negative": m_n, "noise": noise}
        return noise

    def corrupt(self, images, seed: int = 0) -> dict[str, torch.Tensor]:
        """What training does to ``images`` under the fitted masks (no augmentation).

        Returns ``uniform`` (z), ``positive`` and ``negative`` (the masks
        drawn for each image, [N, 1, H, W]), ``noise`` (z shaped by them) and
        ``noisy`` (the input f_r learns to clean, clipped to [0, 1]).
        """
        self._check_fitted()
        x = self._resize(self._prepare(images)).to(self.device_)
        out = self._noise(x, torch.Generator().manual_seed(int(seed)), parts=True)
        out["noisy"] = (x + out["noise"]).clamp(0, 1)
        return {k: v.cpu() for k, v in out.items()}

    # ------------------------------------------------------------------ training
    def _loss(self, xb: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        r"""Eq. 1 on a batch of normal images ``xb``: :math:`1 - \mathrm{SSIM}(x, f_r(x + z))`,
        with ``z`` the noise of :meth:`_noise` and the noisy input clipped to [0, 1]."""
        noisy = (xb + self._noise(xb, g)).clamp(0, 1)  # x + z, still an image
        return ssim_loss(self.model_(noisy), xb)  # L_r = 1 - SSIM (eq. 1)

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None, g: torch.Generator) -> dict:
        p = self.params_
        self.model_ = self._build_networks()["model_"].to(self.device_)
        self.positive_ = self.negative_ = None
        self._mask_net = None
        history = []
        neg_pick = torch.randperm(x.shape[0], generator=g)[: p["n_masks"]]

        def update_masks(step: int) -> None:  # eqs. 2 and 3, every mask_every steps
            if step == 0 or step % p["mask_every"] or p["masks"] == "none":
                return
            if p["masks"] in ("positive", "both"):
                assert anomalies is not None  # fit refuses positive masks without known anomalies
                self.positive_ = self._residual_masks(anomalies[: p["n_masks"]].to(self.device_)).cpu()
            if p["masks"] in ("negative", "both"):
                self.negative_ = self._residual_masks(x[neg_pick].to(self.device_)).cpu()
                if p["negative_source"] == "aligned":
                    self._mask_net = copy.deepcopy(self.model_).eval()
            history.append(
                torch.stack(
                    [m[0] if m is not None else torch.zeros(x.shape[-2:]) for m in (self.positive_, self.negative_)]
                )
            )

        def step_loss() -> torch.Tensor:
            return self._loss(draw_batch(x, p["batch_size"], g, p["augment"]).to(self.device_), g)

        losses = train_steps(
            self.model_,
            p["steps"],
            p["lr"],
            step_loss,
            f"PNUNet (masks: {p['masks']})",
            self.progress,
            before_step=update_masks,
        )
        self.mask_history_ = torch.stack(history) if history else torch.zeros(0, 2, *x.shape[-2:])
        return {"loss": losses}

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict:
        return {"positive": self.positive_, "negative": self.negative_, "mask_history": self.mask_history_}

    def _set_state(self, state: dict) -> None:
        self.positive_, self.negative_ = state.get("positive"), state.get("negative")
        self.mask_history_ = state["mask_history"]

    # ------------------------------------------------------------------ inference
    def _module(self) -> ReconstructionScorer:
        """Inference: the U-Net's reconstruction, its residual smoothed by ``smooth`` px, the top-1 % score."""
        return ReconstructionScorer(self.model_, sigma=self.params_["smooth"])
