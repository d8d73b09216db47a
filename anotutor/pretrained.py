"""Trained weights that ship with the book, for methods a CPU cannot train within a chapter's budget.

The AnoGAN chapter compares some twenty GANs (three normal classes, three
training set-ups, sweeps over gamma and over the contamination epsilon, and
IR-MNIST puzzles). Trained live, they would take about fifteen minutes on a
2-core CPU, five times the chapter's budget. As the UvA deep-learning
tutorials do for CPU readers, the book ships their checkpoints instead:

* each run is a :class:`Recipe`: the data (a function of the bundled MNIST
  digits and a seed) and the detector's constructor arguments, all fixed
  here, so the file can be rebuilt bit for bit on a CPU;
* :func:`load` returns the fitted detector from ``anotutor/weights/<name>.pt``
  when that file exists and was written by this package version for this
  recipe (architecture and settings compared); otherwise it trains the recipe
  live (minutes), so a chapter always runs, and says so;
* :func:`build` (``make weights``) retrains every recipe and writes the files;
  each checkpoint carries its training log (loss curves, seconds, device).

Budget: the recipes are the ``ci`` set-up. A reader with a GPU can train
larger ones with the same detector (``AnoGAN(...).fit``), as the chapter's
exercises show.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import __version__
from .data import ir_mnist, load_mnist, noisy_anogan_split
from .methods import AnoGAN
from .methods.estimator import read_checkpoint

__all__ = ["Recipe", "RECIPES", "WEIGHTS", "load", "load_recipe", "build", "mnist_setup", "MNIST_CLASSES",
           "MNIST_GAN", "EPSILON", "GAMMA", "GAMMAS", "EPSILONS"]

WEIGHTS = Path(__file__).resolve().parent / "weights"

MNIST_CLASSES = (0, 5, 6)    # normal classes of the comparison (the full budget: all ten)
EPSILON = 0.1                # unlabelled anomalies: a tenth of the training set
GAMMA = 0.1                  # the paper's gamma (its section 4)
GAMMAS = (0.1, 0.3, 0.5, 0.8, 1.0)
EPSILONS = (0.0, 0.05, 0.1, 0.2)
MNIST_GAN = dict(image_size=28, latent_size=64, width=16, steps=1500, batch_size=64, lr=2e-4,
                 seed=0, progress=False)
IR_GAN = dict(image_size=64, latent_size=64, width=16, steps=1500, batch_size=32, lr=2e-4,
              seed=0, progress=False)


def mnist_setup(normal_class: int, epsilon: float, setup: str, seed: int = 0):
    """The data of one MNIST run: ``(dataset, images, anomalies)``.

    ``setup``: ``"clean"`` (normal digits only; AnoGAN's reference),
    ``"blind"`` (normal digits plus a fraction ``epsilon`` of unlabelled
    anomalies, trained on as if normal), ``"told"`` (the same images, the
    anomalies labelled: fit on the normal ones, penalise the others) or
    ``"paper"`` (the contaminated set as in ``"blind"``, penalising the
    *other*, separately labelled known anomalies: 10 % of each other class).
    """
    images, labels = load_mnist()
    ds = noisy_anogan_split(images, labels, normal_class, seed=seed, contamination=epsilon)
    normal = ds.train.labels == 0
    if setup == "clean":
        return ds, ds.train.images[normal], None
    if setup == "blind":
        return ds, ds.train.images, None
    if setup == "told":
        return ds, ds.train.images[normal], ds.train.images[~normal]
    if setup == "paper":
        return ds, ds.train.images, ds.anomalies.images
    raise ValueError(f"setup must be 'clean', 'blind', 'told' or 'paper', got {setup!r}")


def ir_setup(seed: int = 0):
    """The IR-MNIST puzzles of the book: 4 x 4 digits of 16 px (64 px), no 3 in training."""
    images, labels = load_mnist()
    ds = ir_mnist(images, labels, grid=4, cell=16, n_train=800, n_known=40, n_val=40, n_test=80,
                  seed=seed)
    return ds, ds.train.images, ds.anomalies.images


@dataclass(frozen=True)
class Recipe:
    """One shipped run: ``data() -> (dataset, images, anomalies)`` and the detector's arguments."""

    name: str
    data: Callable
    params: dict = field(default_factory=dict)

    def detector(self) -> AnoGAN:
        return AnoGAN(**self.params)

    def train(self) -> AnoGAN:
        _, x, a = self.data()
        return self.detector().fit(x, anomalies=a)


def _mnist(cls: int, eps: float, setup: str, gamma: float) -> Recipe:
    name = f"mnist{cls}-eps{eps:g}-{setup}-gamma{gamma:g}"
    return Recipe(name, lambda: mnist_setup(cls, eps, setup), {**MNIST_GAN, "gamma": gamma})


def _recipes() -> dict[str, Recipe]:
    out = []
    for cls in MNIST_CLASSES:
        out += [_mnist(cls, EPSILON, "clean", 1.0), _mnist(cls, EPSILON, "blind", 1.0),
                _mnist(cls, EPSILON, "told", GAMMA), _mnist(cls, EPSILON, "paper", GAMMA)]
    out += [_mnist(0, EPSILON, "paper", g) for g in GAMMAS if g not in (GAMMA, 1.0)]
    out += [_mnist(0, e, s, g) for e in EPSILONS if e != EPSILON
            for s, g in (("blind", 1.0), ("paper", GAMMA)) if e > 0 or s != "blind"]
    out.append(Recipe("mnist0-eps0.1-clean-gamma1-nospectral", lambda: mnist_setup(0, EPSILON, "clean"),
                      {**MNIST_GAN, "gamma": 1.0, "spectral": False}))
    out += [Recipe(f"irmnist-{name}", ir_setup, {**IR_GAN, "gamma": g})
            for name, g in (("anogan", 1.0), ("noisy", GAMMA))]
    return {r.name: r for r in out}


RECIPES = _recipes()


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
    """None when the file fits the recipe and this package version, else why not."""
    return _read_matching(path, recipe)[1]


def load(name: str, train_if_missing: bool = True, weights: Path = WEIGHTS) -> AnoGAN:
    """The fitted detector of recipe ``name``, from its shipped checkpoint or trained live."""
    return load_recipe(_recipe(name), train_if_missing, weights)


def load_recipe(recipe: Recipe, train_if_missing: bool = True, weights: Path = WEIGHTS) -> AnoGAN:
    """:func:`load` for any :class:`Recipe` (e.g. one of a reader's own)."""
    path = Path(weights) / f"{recipe.name}.pt"
    ckpt, why = _read_matching(path, recipe)
    if ckpt is not None:
        return type(recipe.detector()).from_checkpoint_dict(ckpt, path)
    if not train_if_missing:
        raise FileNotFoundError(f"no usable weights for {recipe.name!r} ({why}); run `make weights`")
    warnings.warn(f"training {recipe.name!r} live ({why}); `make weights` ships it", stacklevel=2)
    return recipe.train()


SETUPS = ("clean", "blind", "told", "paper")


def mnist_name(cls: int, setup: str, epsilon: float = EPSILON) -> str:
    """The shipped run of normal class ``cls`` under ``setup`` (AnoGAN for clean and blind, Noisy-AnoGAN else)."""
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {SETUPS}, got {setup!r}")
    return f"mnist{cls}-eps{epsilon:g}-{setup}-gamma{1 if setup in ('clean', 'blind') else GAMMA:g}"


def held_out_digits(cls: int):
    """The test split of class ``cls`` at the largest contamination, which no shipped run trained on."""
    return mnist_setup(cls, max(EPSILONS), "clean")[0].test


def mnist_test(cls: int, n_normal: int = 100, n_other: int = 11, held_out=None):
    """The test digits of normal class ``cls``: ``n_normal`` normal, ``n_other`` of each other digit.

    Drawn from :func:`held_out_digits` (or the ``held_out`` split given), so
    every run of one class meets the same images.
    """
    held_out = held_out_digits(cls) if held_out is None else held_out
    counts = {k: n_other for k in held_out.counts() if k != "good"}
    return held_out.per_kind({"good": n_normal, **counts}, seed=0)


def contamination(classes=MNIST_CLASSES, search_steps: int | None = None,
                  detections: dict | None = None, tests: dict | None = None) -> dict:
    """Image AUROC of the shipped runs: ``{cls: {setup: auroc}}`` for every setup of :data:`SETUPS`.

    The check of Noisy-AnoGAN's claim: with anomalies hidden in the training
    data ("blind"), does penalising known ones ("paper") win back what the
    contamination cost against clean training? Each run is scored on
    :func:`mnist_test` of its class; ``detections`` (run name -> its
    ``predict`` output on those digits) reuses predictions already made, and
    only the runs it lacks are loaded and run; ``tests`` (class -> its
    :func:`mnist_test` split) reuses the test digits already drawn.
    """
    from .metrics import image_auroc

    out = {}
    for cls in classes:
        test = tests[cls] if tests and cls in tests else mnist_test(cls)
        out[cls] = {}
        for setup in SETUPS:
            name = mnist_name(cls, setup)
            found = (detections or {}).get(name)
            if found is None:
                det = load(name)
                if search_steps is not None:
                    det = det.with_search(search_steps=search_steps)
                found = det.predict(test.images)
            if len(found.scores) != len(test.labels):
                raise ValueError(f"detections[{name!r}] has {len(found.scores)} scores, but the "
                                 f"test digits of class {cls} are {len(test.labels)}")
            out[cls][setup] = image_auroc(found.scores, test.labels)
    return out


def build(names=None, out: Path = WEIGHTS, progress: bool = True) -> list[Path]:
    """Retrain recipes (all by default) and write their checkpoints to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or RECIPES:
        det = _recipe(name).train()
        written.append(det.save(out / f"{name}.pt"))
        if progress:
            print(f"{name}: {det.log_.fit_seconds:.0f} s -> {written[-1]}", flush=True)
    return written


if __name__ == "__main__":  # python -m anotutor.pretrained [name ...]
    import sys

    torch.set_num_threads(max(1, torch.get_num_threads()))
    build(sys.argv[1:] or None)
