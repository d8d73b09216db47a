"""The book's experimental protocol in one place: which defects a method may see, the chapters'
settings, the ablations' variants.

* :data:`KNOWN_KINDS`: the defect kinds a method that uses known anomalies
  (Noisy-AnoGAN, PNUNet's positive masks) may see in training; every other
  kind (:func:`unseen_kinds`) is scored apart, so a comparison does not
  favour the method that saw the test defects' generator.
* the chapters' settings (:data:`PNUNET_SETTINGS`, :data:`NOISY_GAMMA`),
  which :mod:`~anotutor.catalog` and the shipped weights use, and
  the AnoGAN chapter's contamination experiment (:data:`MNIST_CLASSES`,
  :data:`EPSILON`, :data:`GAMMAS`, :data:`SETUPS`, the runs' names);
* the ablations' variants (:data:`PNUNET_VARIANTS`, :data:`TWO_STAGE_PSEUDO`,
  :data:`TWO_STAGE_DESIGN`, :func:`two_stage_stage2`), trained live by the
  chapters and over every texture and seed by ``benchmarks/ablations.py``.
"""

from __future__ import annotations

from .methods.pnunet import MASK_MODES
from .methods.two_stage import PSEUDO_KINDS, STAGE2_READINGS, STEP_FACTOR_1, STEP_FACTOR_2

__all__ = [
    "KNOWN_KINDS",
    "unseen_kinds",
    "NOISY_GAMMA",
    "MNIST_CLASSES",
    "EPSILON",
    "GAMMAS",
    "EPSILONS",
    "LEFT_OUT",
    "SETUPS",
    "recipe_name",
    "mnist_name",
    "PNUNET_SETTINGS",
    "MATCHED_SHARE",
    "PNUNET_VARIANTS",
    "TWO_STAGE_PSEUDO",
    "TWO_STAGE_DESIGN",
    "two_stage_stage2",
]

# Known anomalies come from these kinds only; the others are never seen in training.
KNOWN_KINDS = ("scratch", "crack")


def unseen_kinds(kinds) -> list[str]:
    """The defect kinds among ``kinds`` (a split's ``kinds``) that no method saw in training."""
    return sorted(set(kinds) - {"good", *KNOWN_KINDS})


# Noisy-AnoGAN's gamma: the paper's value (Kimura and Yanagihara 2018a, section 4).
NOISY_GAMMA = 0.1

# The AnoGAN chapter's contamination experiment on MNIST (its runs ship as weights).
MNIST_CLASSES = (0, 5, 6)  # normal classes of the comparison (the full budget: all ten)
EPSILON = 0.1  # unlabelled anomalies: a tenth of the training set
GAMMAS = (0.1, 0.3, 0.5, 0.8, 0.9, 1.0)  # 0.9 = 1 - EPSILON, where the theory's bound sits
EPSILONS = (0.0, 0.05, 0.1, 0.2)
LEFT_OUT = 6  # the digit left out of class 0's known anomalies (exercise 5 made a section)
SETUPS = ("clean", "blind", "told", "paper")  # the training set-ups (anotutor.data.mnist.mnist_setup)


def recipe_name(cls: int, epsilon: float, setup: str, gamma: float) -> str:
    """The name of the shipped MNIST run of normal class ``cls``, contamination ``epsilon``,
    set-up ``setup`` and ``gamma``: ``"mnist0-eps0.1-paper-gamma0.1"``."""
    return f"mnist{cls}-eps{epsilon:g}-{setup}-gamma{gamma:g}"


def mnist_name(cls: int, setup: str, epsilon: float = EPSILON) -> str:
    """The shipped run of normal class ``cls`` under ``setup`` (AnoGAN for clean and blind, Noisy-AnoGAN else)."""
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {SETUPS}, got {setup!r}")
    return recipe_name(cls, epsilon, setup, 1.0 if setup in ("clean", "blind") else NOISY_GAMMA)


# PNUNet's chapter trains several models within its 3-minute budget: a narrower U-Net for
# fewer steps than the defaults (width 16, 4 x budget steps).
PNUNET_SETTINGS = {"width": 8, "steps": 300}

# The negative mask lowers the noise's mean amplitude: 1 - mean(m_n) = 0.77 for the
# chapter's negative-mask model at its last update (brick, seed 0, training images).
# "none, matched" is plain uniform noise at that mean amplitude, to tell the mask's
# shape from its energy.
MATCHED_SHARE = 0.77

# PNUNet's ablation by name: the four mask modes, the alternative reading of "both" (each
# image gets positive or negative noise, not both), negative masks computed on the image
# they corrupt, and uniform noise of the negative masks' energy.
PNUNET_VARIANTS = {
    **{m: {"masks": m} for m in MASK_MODES},
    "both, mix": {"masks": "both", "combine": "mix"},
    "negative, aligned": {"masks": "negative", "negative_source": "aligned"},
    "none, matched": {"masks": "none", "amplitude": 0.5 * MATCHED_SHARE},
}

# The two-stage model's pseudo-anomalies: Perlin alone, or Perlin and superpixels.
TWO_STAGE_PSEUDO = {p: {"pseudo": p} for p in PSEUDO_KINDS}

# The two-stage model's design choices, each switched off alone (chosen on the validation splits).
TWO_STAGE_DESIGN = {
    "as designed": {},
    "plain fractal texture": {"source": "fractal"},
    "stage 2 not zero-initialised": {"zero_init": False},
    "no BatchNorm recalibration": {"recalibrate": False},
}


def two_stage_stage2(budget_steps: int) -> dict[str, dict]:
    """Stage 2's two readings, each trained short (its default share of the budget's steps) and long
    (as long as stage 1), on one shared stage 1 (:meth:`~anotutor.methods.two_stage.TwoStage.restage`)."""
    return {
        f"{reading}, {length} stage 2": {"stage2": reading, "steps2": round(factor * budget_steps)}
        for reading in STAGE2_READINGS
        for length, factor in (("short", STEP_FACTOR_2), ("long", STEP_FACTOR_1))
    }
