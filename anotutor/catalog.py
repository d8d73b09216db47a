"""The book's detectors by name, with the settings the comparison uses.

One place says what ``anotutor run --method NAME``, ``anotutor compare``,
``benchmarks/methods.py`` and the benchmark chapter mean by a method::

    det = make("pnunet", image_size=64, seed=0)    # a fresh, unfitted Detector
    METHODS["pnunet"].needs_anomalies              # False: learns from normal images only

Each entry holds the settings of the method's own chapter (the auto-encoder
with a 32-number code, AnoGAN with the IR-MNIST generator's width, PNUNet
with the negative masks at its chapter's size and steps, the two-stage
model as chapter 6 trains it, PatchCore and PaDiM at their defaults).
``steps`` replaces a method's default training length (the two-stage model's
second stage gets a third of it, its own default rule); ``None`` keeps the
budget's. The feature memories train nothing (``steps`` does not apply) and
keep their own working size (``own_size``, 224 px, the size their ImageNet
backbone was trained at): the command line loads a folder at each method's
:meth:`Method.working_size`, so they see a photograph at 224 px, not a
64 px copy enlarged.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from .checks import check_int
from .methods.anogan import AnoGAN
from .methods.autoencoder import AutoEncoderDetector
from .methods.base import Detector
from .methods.floor import BrightnessFloor
from .methods.padim import PaDiM
from .methods.patchcore import PatchCore
from .methods.pnunet import PNUNet
from .methods.two_stage import TwoStage
from .protocol import NOISY_GAMMA, PNUNET_SETTINGS

__all__ = ["Method", "METHODS", "make", "names", "resolve", "NOISY_GAMMA"]

_GAN = {"latent_size": 64, "width": 16}


@dataclass(frozen=True)
class Method:
    """One detector of the book: its class, its settings, and what it needs."""

    name: str
    title: str
    cls: type
    settings: dict = field(default_factory=dict)
    chapter: str = ""
    trains: bool = True  # False: no training run (the floor, the feature memories): ``steps`` does not apply
    own_size: bool = False  # True: the detector keeps its own working size, whatever ``image_size`` asks

    def make(
        self,
        image_size: int | None = None,
        steps: int | None = None,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ) -> Detector:
        kw = dict(self.settings)
        if image_size is not None and not self.own_size:
            kw["image_size"] = image_size
        if device is not None:
            kw["device"] = device
        accepts = inspect.signature(self.cls).parameters
        if "seed" in accepts:
            kw["seed"] = seed
        if "progress" in accepts:
            kw["progress"] = progress
        if self.trains:
            if steps is not None:
                kw["steps"] = check_int(steps, "steps", minimum=1)
        return self.cls(**kw)

    def working_size(self, image_size: int | None = None) -> int:
        """The size this method works at when a folder is loaded for it: ``image_size`` (or the budget's)
        for the methods that train, its own (224 for the feature memories) for ``own_size`` ones."""
        return int(self.make(image_size=image_size, progress=False).resolve_params()["image_size"])

    @property
    def needs_anomalies(self) -> bool:
        """Whether this entry's detector needs known anomalies (:attr:`Detector.uses_anomalies`)."""
        return self.cls(**self.settings).uses_anomalies

    def defaults(self) -> dict:
        """The arguments this entry passes, over the class's own defaults (``None``: the budget's)."""
        return self.cls(**self.settings).get_params()


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("floor", "floor (training mean)", BrightnessFloor, trains=False, chapter="01_data_and_metrics"),
        Method(
            "ae-l2",
            "auto-encoder, L2",
            AutoEncoderDetector,
            {"latent_size": 32, "loss": "l2"},
            chapter="02_autoencoder",
        ),
        Method(
            "ae-ssim",
            "auto-encoder, SSIM",
            AutoEncoderDetector,
            {"latent_size": 32, "loss": "ssim"},
            chapter="02_autoencoder",
        ),
        Method("anogan", "AnoGAN", AnoGAN, {**_GAN, "gamma": 1.0}, chapter="04_anogan"),
        Method("noisy-anogan", "Noisy-AnoGAN", AnoGAN, {**_GAN, "gamma": NOISY_GAMMA}, chapter="04_anogan"),
        Method(
            "pnunet", "PNUNet, negative masks", PNUNet, {"masks": "negative", **PNUNET_SETTINGS}, chapter="05_pnunet"
        ),
        Method("two-stage", "two-stage", TwoStage, {}, chapter="06_two_stage"),
        Method(
            "patchcore",
            "PatchCore (ImageNet features)",
            PatchCore,
            {},
            chapter="07_feature_memories",
            trains=False,
            own_size=True,
        ),
        Method(
            "padim", "PaDiM (ImageNet features)", PaDiM, {}, chapter="07_feature_memories", trains=False, own_size=True
        ),
    )
}


def names() -> list[str]:
    return list(METHODS)


def resolve(spec) -> list[str]:
    """``"all"``, one name or a comma-separated list (``"ae-l2,pnunet"``) as a list of known names."""
    if isinstance(spec, str):
        items = list(METHODS) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = list(spec)
    if not items:
        raise ValueError(f"no method named; choose from {names()} or 'all'")
    unknown = [s for s in items if s not in METHODS]
    if unknown:
        raise ValueError(f"unknown method{'s' if len(unknown) > 1 else ''} {unknown}; known: {names()}")
    if len(set(items)) != len(items):
        raise ValueError(f"a method is named twice in {items}")
    return items


def make(name: str, **kwargs) -> Detector:
    """A fresh detector ``name`` (see :data:`METHODS`) with ``image_size``, ``steps``, ``seed``, ``device``."""
    return METHODS[resolve([name])[0]].make(**kwargs)
