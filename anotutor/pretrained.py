"""Trained weights that ship with the book, for runs a CPU cannot train within a chapter's budget.

The AnoGAN chapter compares some twenty GANs (three normal classes, three
training set-ups, sweeps over gamma and over the contamination epsilon, and
IR-MNIST puzzles). Trained live, they would take about fifteen minutes on a
2-core CPU, five times the chapter's budget. The auto-encoder, PNUNet and
two-stage chapters each train several texture networks (a minute or two
each). As the UvA deep-learning tutorials do for CPU readers, the book
ships their checkpoints instead:

* each run is a :class:`Recipe`: the data (a function of the bundled MNIST
  digits or textures and a seed), the detector's class and constructor
  arguments, all fixed here, so the file can be rebuilt on a CPU;
* :func:`load` returns the fitted detector of an AnoGAN recipe from
  ``anotutor/weights/<name>.pt`` when that file exists and was written by
  this package version for this recipe (architecture and settings
  compared); otherwise it trains the recipe live (minutes), so a chapter
  always runs, and says so;
* :func:`fitted` does the same for a detector and data a chapter builds
  itself, and is stricter: the file must be that very fit (same class and
  parameters under the current budget, same training data by
  :func:`data_hash`), so another budget, texture or setting trains live;
* :func:`build` (``make weights``) retrains every recipe and writes the files;
  each checkpoint carries its training log (loss curves, seconds, device).

Budget: the recipes are the ``ci`` set-up. A reader with a GPU (the
``full`` budget) trains the texture networks live at its size; larger GANs
are trained with the same detector (``AnoGAN(...).fit``), as the chapter's
exercises show.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import __version__
from .catalog import METHODS
from .data import textures
from .data.irmnist import ir_setup
from .data.mnist import mnist_setup
from .log import LOG, configure
from .methods import AnoGAN, AutoEncoderDetector, Detector, PNUNet, TwoStage
from .methods.estimator import E, Estimator, read_checkpoint
from .methods.pnunet import MASK_MODES
from .methods.two_stage import PSEUDO_KINDS
from .protocol import EPSILON, EPSILONS, GAMMAS, KNOWN_KINDS, LEFT_OUT, MNIST_CLASSES, recipe_name
from .protocol import NOISY_GAMMA as GAMMA
from .protocol import PNUNET_SETTINGS as PNUNET_CHAPTER
from .runtime import budget_scope

__all__ = [
    "Recipe",
    "RECIPES",
    "WEIGHTS",
    "GAN_RECIPES",
    "TEXTURE_RECIPES",
    "load",
    "load_recipe",
    "fitted",
    "fit_recorded",
    "data_hash",
    "build",
    "MNIST_GAN",
    "IR_GAN",
]

WEIGHTS = Path(__file__).resolve().parent / "weights"

MNIST_GAN = dict(image_size=28, latent_size=64, width=16, steps=1500, batch_size=64, lr=2e-4, seed=0, progress=False)
IR_GAN = dict(image_size=64, latent_size=64, width=16, steps=1500, batch_size=32, lr=2e-4, seed=0, progress=False)


def data_hash(images: torch.Tensor, anomalies: torch.Tensor | None = None) -> str:
    """SHA-256 of the training data (shapes and float32 values): which images a fit saw."""
    h = hashlib.sha256()
    for x in (images, anomalies):
        if x is None:
            h.update(b"none")
            continue
        x = torch.as_tensor(x).detach().to("cpu", torch.float32).contiguous()
        h.update(repr(tuple(x.shape)).encode())
        h.update(x.numpy().tobytes())
    return h.hexdigest()


def fit_recorded(det: E, images: torch.Tensor, anomalies: torch.Tensor | None = None) -> E:
    """``det.fit(images[, anomalies=...])``, the data's :func:`data_hash` written into its log."""
    det = det.fit(images) if anomalies is None else det.fit(images, anomalies=anomalies)
    det.log_.data_hash = data_hash(images, anomalies)
    return det


@dataclass(frozen=True)
class Recipe:
    """One shipped run: ``data() -> (dataset, images, anomalies)``, the detector's class and arguments."""

    name: str
    data: Callable
    params: dict = field(default_factory=dict)
    method: type[Detector] = AnoGAN

    def detector(self) -> Detector:
        return self.method(**self.params)

    def train(self) -> Detector:
        _, x, a = self.data()
        return fit_recorded(self.detector(), x, a)


def _mnist(cls: int, eps: float, setup: str, gamma: float) -> Recipe:
    return Recipe(
        recipe_name(cls, eps, setup, gamma), lambda: mnist_setup(cls, eps, setup), {**MNIST_GAN, "gamma": gamma}
    )


def _recipes() -> dict[str, Recipe]:
    out = []
    for cls in MNIST_CLASSES:
        out += [
            _mnist(cls, EPSILON, "clean", 1.0),
            _mnist(cls, EPSILON, "blind", 1.0),
            _mnist(cls, EPSILON, "told", GAMMA),
            _mnist(cls, EPSILON, "paper", GAMMA),
        ]
    out += [_mnist(0, EPSILON, "paper", g) for g in GAMMAS if g not in (GAMMA, 1.0)]
    out += [
        _mnist(0, e, s, g)
        for e in EPSILONS
        if e != EPSILON
        for s, g in (("blind", 1.0), ("paper", GAMMA))
        if e > 0 or s != "blind"
    ]
    # the class nobody labelled: the paper's set-up for class 0 without the known sixes
    out.append(
        Recipe(
            f"{recipe_name(0, EPSILON, 'paper', GAMMA)}-without{LEFT_OUT}",
            lambda: mnist_setup(0, EPSILON, "paper", leave_out=LEFT_OUT),
            {**MNIST_GAN, "gamma": GAMMA},
        )
    )
    out.append(
        Recipe(
            "mnist0-eps0.1-clean-gamma1-nospectral",
            lambda: mnist_setup(0, EPSILON, "clean"),
            {**MNIST_GAN, "gamma": 1.0, "spectral": False},
        )
    )
    out += [
        Recipe(f"irmnist-{name}", ir_setup, {**IR_GAN, "gamma": g}) for name, g in (("anogan", 1.0), ("noisy", GAMMA))
    ]
    return {r.name: r for r in out}


AE_LATENTS = (8, 32, 128, 500)  # the auto-encoder chapter's nested latent sizes


def texture_setup(name: str = "brick", known: bool = False):
    """The data of a texture chapter's run: ``(dataset, train images, known anomalies or None)``.

    Under the current budget (the shipped files are the ``ci`` one's);
    ``known``: the anomalies of :data:`~anotutor.protocol.KNOWN_KINDS`
    that PNUNet's positive masks learn from.
    """
    ds = textures(name)
    return ds, ds.train.images, ds.anomalies.of_kind(*KNOWN_KINDS).images if known else None


def ae_params(loss: str) -> dict:
    """The auto-encoder chapter's network: latent 500 with the smaller sizes nested in it."""
    return dict(image_size=None, latent_size=AE_LATENTS[-1], nested=AE_LATENTS[:-1], loss=loss, seed=0)


def pnunet_params(masks: str) -> dict:
    """The PNUNet chapter's variants: :data:`~anotutor.protocol.PNUNET_SETTINGS`, seed 0."""
    return dict(masks=masks, seed=0, **PNUNET_CHAPTER)


def _texture_recipes() -> list[Recipe]:
    out = [Recipe(f"brick-ae-{loss}", texture_setup, ae_params(loss), AutoEncoderDetector) for loss in ("l2", "ssim")]
    out += [
        Recipe(f"brick-pnunet-{m}", lambda: texture_setup("brick", known=True), pnunet_params(m), PNUNet)
        for m in MASK_MODES
    ]
    # the two-stage chapter: both pseudo-anomaly settings, and the auto-encoder it is compared
    # with (catalog "ae-l2"); catalog methods take their settings from the catalog
    out += [Recipe(f"brick-two-stage-{p}", texture_setup, dict(pseudo=p, seed=0), TwoStage) for p in PSEUDO_KINDS]
    out.append(
        Recipe("brick-ae-l2-latent32", texture_setup, METHODS["ae-l2"].make(seed=0).get_params(), AutoEncoderDetector)
    )
    # the benchmark chapter's side-by-side maps: AnoGAN as the comparison runs it
    out.append(Recipe("brick-anogan", texture_setup, METHODS["anogan"].make(seed=0).get_params(), AnoGAN))
    return out


GAN_RECIPES = _recipes()  # the AnoGAN chapter's runs
TEXTURE_RECIPES = {r.name: r for r in _texture_recipes()}  # chapters 2, 5, 6 and 8
RECIPES = {**GAN_RECIPES, **TEXTURE_RECIPES}


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"no recipe {name!r}; known: {sorted(RECIPES)}")
    return RECIPES[name]


def _read_matching(path: Path, recipe: Recipe) -> tuple[dict | None, str | None]:
    """``(checkpoint, None)`` when the file fits the recipe and this package version, else ``(None, why not)``."""
    try:
        ckpt = read_checkpoint(path)
    except (FileNotFoundError, ValueError) as err:
        return None, str(err)
    if ckpt.get("package") != __version__:
        return None, f"written by anotutor {ckpt.get('package')}, this is {__version__}"
    want = recipe.detector().get_params()
    have = {**ckpt["settings"], **ckpt["architecture"]}
    diff = [k for k, v in want.items() if v is not None and k in have and have[k] != v]
    return (None, f"recipe differs in {diff}") if diff else (ckpt, None)


def _matches(path: Path, recipe: Recipe) -> str | None:
    """None when the file fits the recipe and this package version, else why not.

    A texture recipe's file must be that very fit: same parameters under the
    ``ci`` budget and the same training data (:func:`fitted` uses it then).
    """
    if recipe.name not in TEXTURE_RECIPES:
        return _read_matching(path, recipe)[1]
    with budget_scope("ci"):
        _, x, a = recipe.data()
        return _read_fit(path, recipe.detector(), data_hash(x, a))[1]


def _why_not_this_fit(ckpt: dict, det: Estimator, digest: str) -> str | None:
    """None when ``ckpt`` is ``det`` fitted on the data of hash ``digest`` by this package version."""
    if ckpt["class"] != type(det).__name__:
        return f"it holds a {ckpt['class']}, not a {type(det).__name__}"
    if ckpt.get("package") != __version__:
        return f"written by anotutor {ckpt.get('package')}, this is {__version__}"
    have = {**ckpt["settings"], **ckpt["architecture"]}
    # a parameter the checkpoint predates matches when this detector keeps its default
    default = {k: p.default for k, p in inspect.signature(type(det).__init__).parameters.items()}
    diff = [
        k
        for k, v in det.resolve_params().items()
        if (have[k] != v if k in have else v != default.get(k, inspect.Parameter.empty))
    ]
    if diff:
        return f"trained with other {', '.join(diff)}"
    if ckpt["log"].get("data_hash", "") != digest:
        return "trained on other data"
    return None


def _read_fit(path: Path, det: Estimator, digest: str) -> tuple[dict | None, str | None]:
    """``(checkpoint, None)`` when ``path`` holds that very fit (:func:`_why_not_this_fit`),
    else ``(None, why not)``."""
    try:
        ckpt = read_checkpoint(path)
    except (FileNotFoundError, ValueError) as err:
        return None, str(err)
    why = _why_not_this_fit(ckpt, det, digest)
    return (ckpt, None) if why is None else (None, why)


def fitted(
    det: Estimator, images: torch.Tensor, anomalies: torch.Tensor | None = None, *, name: str, weights: Path = WEIGHTS
) -> Estimator:
    """``det`` fitted on ``images`` (and ``anomalies``): from the shipped checkpoint ``name`` when it
    is this very fit, else trained live.

    The file is used only when it holds the same class with the same
    parameters (the current budget's values filled in), trained on the same
    data (:func:`data_hash`) by this package version; anything else (another
    budget, texture or seed, an edited recipe) trains live and warns why.
    Either way the result is what ``det.fit(...)`` gives, up to the order of
    floating-point sums on another machine.
    """
    path = Path(weights) / f"{name}.pt"
    ckpt, why = _read_fit(path, det, data_hash(images, anomalies))
    if ckpt is not None:
        return det._load_checkpoint(ckpt, path)
    warnings.warn(f"training {name!r} live ({why}); `make weights` ships it", stacklevel=2)
    return fit_recorded(det, images, anomalies)


def load(name: str, train_if_missing: bool = True, weights: Path = WEIGHTS) -> Detector:
    """The fitted detector of recipe ``name``, from its shipped checkpoint or trained live."""
    return load_recipe(_recipe(name), train_if_missing, weights)


def load_recipe(recipe: Recipe, train_if_missing: bool = True, weights: Path = WEIGHTS) -> Detector:
    """:func:`load` for any :class:`Recipe` (e.g. one of a reader's own)."""
    path = Path(weights) / f"{recipe.name}.pt"
    ckpt, why = _read_matching(path, recipe)
    if ckpt is not None:
        return type(recipe.detector()).from_checkpoint_dict(ckpt, path)
    if not train_if_missing:
        raise FileNotFoundError(f"no usable weights for {recipe.name!r} ({why}); run `make weights`")
    warnings.warn(f"training {recipe.name!r} live ({why}); `make weights` ships it", stacklevel=2)
    return recipe.train()


def build(names=None, out: Path = WEIGHTS, progress: bool = True) -> list[Path]:
    """Retrain recipes (all by default) and write their checkpoints to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or RECIPES:
        with budget_scope("ci"):  # the texture recipes follow the budget; the files are ci's
            det = _recipe(name).train()
        # the texture networks are larger (an auto-encoder: 2.7 M weights): stored in float16
        written.append(det.save(out / f"{name}.pt", half=name in TEXTURE_RECIPES))
        if progress:
            LOG.info(f"{name}: {det.log_.fit_seconds:.0f} s -> {written[-1]}")
    return written


if __name__ == "__main__":  # python -m anotutor.pretrained [name ...]
    import sys

    configure()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    build(sys.argv[1:] or None)
