r"""AnoGAN (Schlegl et al., 2017) and Noisy-AnoGAN (Kimura and Yanagihara, 2018a): one detector.

**Training.** A GAN learns the normal images. With ``gamma < 1`` known
anomalies become a second kind of fake for the discriminator, weighted
:math:`1 - \gamma` (the book's ``eq-vprime``; the paper's eqs. 15 to 17), so
the generator is pushed away from them; ``gamma = 1`` is the plain GAN of
AnoGAN, and the anomaly term is then not computed at all
(:func:`~anotutor.methods.gan_step.gan_step`, shared with the 1-D GAN of the
theory chapter).

**Inference: latent search** (the paper's Algorithm 1). G and D are frozen;
only the code z moves, from a draw of the uniform prior
:math:`U(-1, 1)^{n_z}`, for ``search_steps`` Adam steps on

.. math::

   L_R(z) &= \sum |x - G(z)|                          &&\text{(eq. 2, residual loss)}\\
   L_D(z) &= \sum |f(x) - f(G(z))|                    &&\text{(eq. 3, discrimination loss)}\\
   L_{Ano}(z) &= (1 - \lambda)\, L_R + \lambda\, L_D   &&\text{(eq. 4)}\\
   L'(z) &= \gamma\, L_{Ano} + (1 - \gamma) \sum |1 - D(G(z))|  &&\text{(eqs. 24, 25)}

after each step z is clipped back into the prior's support [-1, 1]. The
image score is :math:`L'(\hat z)` at the last z (the smallest over
``restarts`` random starts), the pixel map :math:`|x - G(\hat z)|` (the
largest difference over channels, as for the auto-encoder).

What the paper's values do to the score: :math:`L_R` sums over every pixel
(784 on a digit), :math:`L_D` over every feature, while
:math:`|1 - D(G(z))|` lies in [0, 1]; and the last term judges the
*generated* image :math:`G(\hat z)`, not x. With :math:`\gamma = 0.1` it is
weighted 0.9 and the residual 0.1, but it can move the score by at most 0.9.

**Batched search.** The images' losses are independent (z of one image
does not enter another's loss; G runs with BatchNorm's running statistics
and D has no batch statistics), and Adam updates each coordinate on its own,
so all images of a batch are searched at once: summing their losses gives
each z exactly the gradient it would get alone. ``predict(x,
batch_size=1)`` is the one-at-a-time search, for comparison.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import check_int
from ..models.dcgan import Discriminator, Generator, gan_layout
from ..models.scoring import ScoringModule
from ..ops import uniform
from ..runtime import progress
from .base import Detector
from .gan_step import GAN_CURVES, gan_step
from .params import ARCHITECTURE, INFERENCE, TRAINING, TRAINING_SPEC, flag, integer, real, working_size
from .scores import residual_map

__all__ = ["AnoGAN", "LatentSearch", "SearchResult"]

STEP_FACTOR = 4  # default training steps = STEP_FACTOR x the budget's steps


class SearchResult(dict):
    """What :meth:`AnoGAN.search` returns: ``z`` [N, nz], ``score`` [N] (L' at z), ``terms`` (dict of [N]
    tensors: ``residual``, ``discrimination``, ``anomaly``), ``curve`` [n, N] (L' before each step)."""

    z: torch.Tensor
    score: torch.Tensor
    terms: dict[str, torch.Tensor]
    reconstruction: torch.Tensor
    curve: torch.Tensor
    __getattr__ = dict.__getitem__


class LatentSearch(ScoringModule):
    """AnoGAN's inference module: the frozen ``generator`` G and ``discriminator`` D, the weights
    ``gamma`` and ``lam`` of L', and Algorithm 1's Adam ``lr``, ``steps`` and ``restarts``. The map is
    :math:`|x - G(\\hat z)|` (largest over channels), the image score :math:`L'(\\hat z)` of the best
    start; the extras hold the ``reconstruction`` G(z), the code ``z`` and the loss terms."""

    not_exportable = (
        "its inference is an optimisation (Adam steps on z through G and D, a random start each), "
        "not one pass a traced graph can hold"
    )

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        gamma: float,
        lam: float,
        lr: float,
        steps: int,
        restarts: int,
    ):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.gamma, self.lam, self.lr, self.steps, self.restarts = gamma, lam, lr, steps, restarts

    def terms(self, x: torch.Tensor, fx: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """L'(z) per image [N], its terms, and G(z); ``fx`` = D's features of x."""
        gz = self.generator(z)
        logit, fgz = self.discriminator.logits_and_features(gz)
        residual = (x - gz).abs().flatten(1).sum(1)  # eq. 2
        discrimination = (fx - fgz).abs().sum(1)  # eq. 3
        anomaly = 1.0 - torch.sigmoid(logit)  # eq. 25, in [0, 1]
        l_ano = (1 - self.lam) * residual + self.lam * discrimination  # eq. 4
        loss = self.gamma * l_ano + (1 - self.gamma) * anomaly  # eq. 24
        terms = {"residual": residual, "discrimination": discrimination, "anomaly": anomaly}
        return loss, terms, gz

    def search(self, x: torch.Tensor, z0: torch.Tensor, n: int) -> SearchResult:
        """Algorithm 1 on a batch: ``n`` Adam steps on z down L'(z), G and D frozen."""
        G, D = self.generator, self.discriminator
        for net in (G, D):
            net.eval().requires_grad_(False)  # frozen: only z moves
        with torch.enable_grad():
            with torch.no_grad():
                fx = D.features(x)  # f(x) of eq. 3, computed once
            z = z0.clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=self.lr)
            curve = torch.zeros(n, x.shape[0])
            for i in range(n):
                loss, _, _ = self.terms(x, fx, z)
                curve[i] = loss.detach().cpu()
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # each z gets its own image's gradient
                opt.step()
                with torch.no_grad():
                    z.clamp_(-1.0, 1.0)  # stay in the prior's support
        with torch.no_grad():
            loss, terms, gz = self.terms(x, fx, z)  # the score L'(z) at the last z
        return SearchResult(z=z.detach(), score=loss, terms=terms, reconstruction=gz, curve=curve)

    def explain(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """The search from ``restarts`` draws of the prior per image (from ``generator``, on the CPU)."""
        r, n = self.restarts, x.shape[0]
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        z0 = uniform((n * r, self.generator.latent_size), 1.0, g).to(x.device)
        res = self.search(x.repeat(r, 1, 1, 1), z0, self.steps)
        best = res.score.reshape(r, n).argmin(0)  # the best start of each image
        pick = best * n + torch.arange(n, device=best.device)
        gz = res.reconstruction[pick]
        extras = {"reconstruction": gz, "z": res.z[pick], **{f"loss_{k}": v[pick] for k, v in res.terms.items()}}
        return res.score[pick], residual_map(x, gz), extras


class AnoGAN(Detector):
    r"""AnoGAN (``gamma = 1``) or Noisy-AnoGAN (``gamma < 1``) behind the Detector contract.

    ``image_size``: the working resolution, base x 2^k with base 4 to 15
    (28, 32, 48, 64, 96, 128, ...: :func:`~anotutor.models.dcgan.gan_layout`);
    ``latent_size``: n_z; ``width``: channels of the largest hidden map (the
    others double towards the smallest, up to 256). ``gamma`` in (0, 1]: the
    weight of the GAN terms against the known anomalies, in training (V') and
    in the search (L'); ``lam`` in [0, 1]: :math:`\lambda` of eq. 4;
    ``search_steps``: n of Algorithm 1; ``search_lr``: the search's Adam
    step; ``restarts``: random starts per image (the best one counts).
    ``steps``, ``batch_size``, ``lr``: the GAN's Adam training (beta1 = 0.5,
    as in DCGAN); ``spectral``: spectral normalisation in D. ``None`` takes the budget's value in ``fit`` (training
    steps: :data:`STEP_FACTOR` times the budget's).

    ``fit(images, anomalies)``: ``anomalies`` are needed when ``gamma < 1``
    and ignored when ``gamma = 1``. Architecture (compared on load):
    ``image_size``, ``latent_size``, ``width``, ``spectral`` and the data's channel count.
    Learned state: ``generator_``, ``discriminator_`` and the training log
    (``history_``: D and G losses, mean D on real, generated and anomalous
    images, one value per step).
    """

    gamma: float  # a constructor argument that fit reads before params_ exists
    _spec = {
        "image_size": working_size(lambda v, p: gan_layout(v)),
        "latent_size": integer(ARCHITECTURE, "latent_size"),
        "width": integer(ARCHITECTURE, "width"),
        "spectral": flag(ARCHITECTURE, "spectral"),
        "gamma": real(TRAINING, "gamma", 0.0, 1.0, low_open=True),
        "lam": real(INFERENCE, "lam", 0.0, 1.0),
        "search_steps": integer(INFERENCE, "search_steps", optional=True),
        "search_lr": real(INFERENCE, "search_lr", 0.0, 10.0, low_open=True),
        "restarts": integer(INFERENCE, "restarts"),
        **TRAINING_SPEC,
    }
    # gamma weighs the GAN terms in training (V') and in the search's score (L'): a view may score
    # with another gamma than the one the networks were trained with
    _view_params = ("gamma",)
    _networks = ("generator_", "discriminator_")

    def __init__(
        self,
        image_size: int | None = None,
        latent_size: int = 64,
        width: int = 32,
        gamma: float = 1.0,
        lam: float = 0.1,
        search_steps: int | None = None,
        search_lr: float = 0.05,
        restarts: int = 1,
        steps: int | None = None,
        batch_size: int | None = None,
        lr: float = 2e-4,
        spectral: bool = True,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        self._store(locals())

    def _anomaly_use(self) -> str | None:
        if self.gamma < 1.0:
            return (
                f"gamma = {self.gamma} < 1 is Noisy-AnoGAN, which penalises known anomalies (eqs. 15 to 17; "
                "gamma = 1, AnoGAN, needs none)"
            )
        return None

    def _defaults(self, params: dict, b) -> dict:
        return {
            "image_size": b.image_size,
            "steps": STEP_FACTOR * b.steps,
            "batch_size": 2 * b.batch_size,
            "search_steps": b.search_steps,
        }

    # ------------------------------------------------------------------ networks
    def _build_networks(self) -> dict:
        p = self.params_
        return {
            "generator_": Generator(p["image_size"], self.channels_, p["latent_size"], p["width"]),
            "discriminator_": Discriminator(p["image_size"], self.channels_, p["width"], spectral=p["spectral"]),
        }

    def _prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n draws of the uniform prior U(-1, 1)^nz (on the CPU, from ``generator``)."""
        return uniform((n, self.params_["latent_size"]), 1.0, generator)

    def sample(self, n: int = 16, seed: int = 0) -> torch.Tensor:
        """``n`` generated images G(z), z from the prior [n, C, S, S] (the paper's Figure 4)."""
        self._check_fitted()
        n = check_int(n, "n")
        z = self._prior(n, torch.Generator().manual_seed(check_int(seed, "seed", minimum=0)))
        with torch.no_grad():
            return self.generator_(z.to(self.device_)).cpu()

    # ------------------------------------------------------------------ training
    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None, g: torch.Generator) -> dict:
        p = self.params_
        penalised = p["gamma"] < 1.0
        nets = self._build_networks()
        G, D = (nets[k].to(self.device_) for k in ("generator_", "discriminator_"))
        opt_g = torch.optim.Adam(G.parameters(), lr=p["lr"], betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=p["lr"], betas=(0.5, 0.999))
        bs = min(p["batch_size"], x.shape[0])
        curves = {k: np.zeros(p["steps"], dtype=np.float32) for k in GAN_CURVES}
        G.train()
        D.train()
        name = "Noisy-AnoGAN" if penalised else "AnoGAN"
        for step in progress(range(p["steps"]), desc=f"{name} (gamma {p['gamma']:g})", enabled=self.progress):
            real = x[torch.randint(0, x.shape[0], (bs,), generator=g)].to(self.device_)
            z = self._prior(bs, g).to(self.device_)
            anom = None
            if penalised:
                assert anomalies is not None  # fit refuses gamma < 1 without anomalies
                na = min(bs, anomalies.shape[0])
                anom = anomalies[torch.randint(0, anomalies.shape[0], (na,), generator=g)].to(self.device_)
            out = gan_step(G, D, opt_g, opt_d, real, z, p["gamma"], anom)
            for k in GAN_CURVES:
                curves[k][step] = out[k]
        self.generator_, self.discriminator_ = G.eval(), D.eval()
        return curves

    # ------------------------------------------------------------------ latent search
    def search(self, images, z0: torch.Tensor | None = None, steps: int | None = None, seed: int = 0) -> SearchResult:
        """Latent search (Algorithm 1) for a batch of images at once, from ``z0`` [N, nz] or prior draws.

        Returns a :class:`SearchResult` with the last ``z`` (clipped to [-1, 1]),
        ``score`` = L'(z), its ``terms``, the generated images ``reconstruction``
        and the ``curve`` of L' before each step [n, N].
        """
        self._check_fitted()
        x = self._resize(self._prepare(images)).to(self.device_)
        n = self.params_["search_steps"] if steps is None else check_int(steps, "steps")
        if z0 is None:
            z0 = self._prior(x.shape[0], torch.Generator().manual_seed(check_int(seed, "seed", minimum=0)))
        z0 = torch.as_tensor(z0, dtype=torch.float32).reshape(x.shape[0], -1)
        if z0.shape[1] != self.params_["latent_size"]:
            raise ValueError(f"z0 must be [N, {self.params_['latent_size']}], got {tuple(z0.shape)}")
        return self._module().search(x, z0.to(self.device_), n)

    def _module(self) -> LatentSearch:
        p = self.params_
        return LatentSearch(
            self.generator_,
            self.discriminator_,
            p["gamma"],
            p["lam"],
            p["search_lr"],
            p["search_steps"],
            p["restarts"],
        )
