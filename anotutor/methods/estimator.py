"""What every learned model of the book shares: parameters, the training log, checkpoints.

Modelled on scikit-learn's estimators:

* the constructor stores its arguments and checks their ranges, nothing else;
  the configuration is read off the constructor's signature
  (:meth:`Estimator.get_params`), so it cannot drift from a hand-kept list;
* ``None`` means "the budget's value": :meth:`Estimator.resolve_params`
  fills it in at ``fit`` time, so a detector built before ``ANOTUTOR_BUDGET``
  changes still follows it; the values a fit used live in ``params_``;
* ``fit`` returns ``self``; everything learned lives in attributes ending in
  ``_``; ``fit`` draws from its own seeded generator and leaves the global
  random state as it was (:func:`anotutor.runtime.isolated_seed`); a fit that
  fails (bad input, an interrupt) leaves a fitted model as it was.

Parameters are of two kinds. **Architecture** (``_architecture``: image size,
widths, latent size, ...) shapes the networks: a checkpoint of another
architecture cannot be loaded, and :meth:`Estimator.load` refuses it naming
the field. **Training settings** (steps, batch size, learning rate, seed, ...)
are recorded in the checkpoint and in the training log (``log_``), not
compared: weights trained under the ``full`` budget load under ``ci``.

A checkpoint holds every network named in ``_networks``, the method's other
learned state (:meth:`Estimator._get_state`: buffers such as noise masks, a
memory bank), the training log, the architecture and
settings it was trained with, and the decision thresholds ``threshold_``
(:class:`~anotutor.methods.thresholds.Thresholds`) when they were chosen, so a
saved model flags the same pixels without any other file. It is read with ``torch.load(weights_only=True)``
(no code runs on load); :meth:`Estimator.from_checkpoint` rebuilds a model
from the file alone.
"""

from __future__ import annotations

import copy
import inspect
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..ops import count_parameters
from ..runtime import Timer, budget, isolated_seed
from ..runtime import device as pick_device
from .params import ARCHITECTURE, INFERENCE, Param, canonical
from .thresholds import Thresholds

__all__ = ["Estimator", "NotFittedError", "TrainingLog", "read_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "anotutor-checkpoint-1"
_REGISTRY: dict[str, type] = {}
E = TypeVar("E", bound="Estimator")


class NotFittedError(RuntimeError):
    """predict, save or a view was asked of a model before fit."""


@dataclass
class TrainingLog:
    """What a fit did: the settings it used, the budget, the device, its time and its curves.

    ``curves`` maps a name (``"loss"``, ``"loss_d"``, ...) to one value per
    training step (NumPy float32).
    """

    settings: dict
    budget: str
    device: str
    fit_seconds: float
    curves: dict = field(default_factory=dict)
    package: str = __version__
    data_hash: str = ""  # of the training data, where the fit recorded it (anotutor.pretrained.data_hash)

    def summary(self) -> str:
        s = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return (
            f"trained with {s} under the {self.budget!r} budget on {self.device} in "
            f"{self.fit_seconds:.1f} s (anotutor {self.package})"
        )

    def to_state(self) -> dict:
        return {
            "settings": dict(self.settings),
            "budget": self.budget,
            "device": self.device,
            "fit_seconds": float(self.fit_seconds),
            "package": self.package,
            "data_hash": self.data_hash,
            "curves": {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in self.curves.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> TrainingLog:
        curves = {
            k: v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float32)
            for k, v in state.get("curves", {}).items()
        }
        return cls(
            dict(state["settings"]),
            str(state["budget"]),
            str(state["device"]),
            float(state["fit_seconds"]),
            curves,
            str(state.get("package", "?")),
            str(state.get("data_hash", "")),
        )


def read_checkpoint(path: str | Path) -> dict:
    """Read and check an anotutor checkpoint; ``FileNotFoundError`` or a ``ValueError`` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure: corrupt, truncated or foreign
        raise ValueError(f"cannot read checkpoint {path} (corrupt, truncated or not a torch file): {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format", "no format field") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(
            f"{path} is not an anotutor checkpoint of format {CHECKPOINT_FORMAT!r} (found {found!r}); "
            "a checkpoint written by an older anotutor must be retrained"
        )
    missing = {"class", "architecture", "settings", "networks", "state", "log"} - set(ckpt)
    if missing:
        raise ValueError(f"checkpoint {path} lacks {sorted(missing)}")
    return ckpt


def _stored(t: torch.Tensor, half: bool) -> torch.Tensor:
    t = t.detach().cpu()
    return t.half() if half and t.dtype == torch.float32 else t


class Estimator:
    """Base of every learned model: parameters, fit bookkeeping, save, load and from_checkpoint.

    A subclass declares ``_architecture`` (constructor arguments that shape
    its networks) and ``_networks`` (attribute names of its ``nn.Module``
    state, e.g. ``("generator_", "discriminator_")``), builds fresh networks
    in :meth:`_build_networks` from ``params_``, and trains in its ``fit``
    through :meth:`_run_fit`.
    """

    _spec: dict[str, Param] = {}  # every parameter once: its check and kind (:mod:`.params`)
    _architecture: tuple[str, ...] = ()  # the spec's architecture parameters, filled in from _spec
    _networks: tuple[str, ...] = ()
    _runtime_args: tuple[str, ...] = ("device", "progress")  # how to run, not what to learn
    _view_params: tuple[str, ...] = ()  # with_params takes these besides the inference parameters

    # the runtime arguments every estimator takes, and what fit (or load) sets on every one
    device: str | None
    progress: bool
    params_: dict[str, Any]  # the parameters the fit used, canonical, budget defaults filled in
    device_: torch.device
    log_: TrainingLog
    threshold_: Thresholds | None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls
        if "_spec" in cls.__dict__:
            cls._architecture = tuple(k for k, p in cls._spec.items() if p.kind == ARCHITECTURE)

    def fit(self: E, x, anomalies=None) -> E:  # pragma: no cover - every estimator defines it
        """Learn from ``x`` (and ``anomalies``, where the method uses known anomalies); returns ``self``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ parameters
    def _store(self, args: dict) -> None:
        """Store the constructor's arguments as given (``args``: its ``locals()``) and check them by
        the spec; nothing is coerced here (``params_`` gets the canonical values at fit time)."""
        for k in (*self.param_names(), *self._runtime_args):
            if k in args:
                setattr(self, k, args[k])
        self._checked(self.get_params())

    def _checked(self, params: dict) -> dict:
        """``params`` checked by the spec, as canonical values; a ValueError naming the field."""
        return canonical(self._spec, params) if self._spec else dict(params)

    def set_params(self: E, **params) -> E:
        """Change constructor arguments (as scikit-learn's ``set_params``); checked first, so a bad value
        changes nothing. A fitted model keeps what it learned until the next ``fit``."""
        unknown = sorted(set(params) - set(self.param_names()))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter {unknown}; it has {self.param_names()}")
        self._checked({**self.get_params(), **params})
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def clone(self: E) -> E:
        """A new, unfitted model with the same constructor arguments (and device, progress)."""
        runtime = {k: getattr(self, k) for k in self._runtime_args if hasattr(self, k)}
        return type(self)(**self.get_params(), **runtime)

    def with_params(self: E, **settings) -> E:
        """A view of this fitted model with other inference settings (no retraining; the networks are
        shared, and saving the view records the new settings)."""
        self._check_fitted()
        allowed = tuple(k for k, p in self._spec.items() if p.kind == INFERENCE) + self._view_params
        unknown = sorted(set(settings) - set(allowed))
        if unknown:
            raise ValueError(f"with_params takes the inference settings {allowed}, got {unknown}")
        checked = self._checked({**self.get_params(), **settings})
        view = copy.copy(self)
        view.params_ = {**self.params_, **{k: checked[k] for k in settings}}
        for k, v in settings.items():
            setattr(view, k, v)
        view._viewed()
        return view

    def _viewed(self) -> None:
        """Called on a new view of :meth:`with_params` (e.g. to set learned state that follows a setting)."""

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The configuration: the constructor's arguments, less the runtime ones (device, progress)."""
        sig = inspect.signature(cls.__init__)
        return tuple(
            n
            for n, p in sig.parameters.items()
            if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n not in cls._runtime_args
        )

    def get_params(self) -> dict:
        """The constructor's arguments as given (``None`` where the budget decides)."""
        return {k: getattr(self, k) for k in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _defaults(self, params: dict, b) -> dict:
        """The values that parameters given as ``None`` take: from budget ``b``, or derived from the other
        ``params`` as given (e.g. a second stage's steps from the first's). The one place a detector
        computes its defaults; none by default."""
        return {}

    def resolve_params(self) -> dict:
        """The parameters a fit would use now: ``None`` replaced by :meth:`_defaults` under the current budget."""
        given = self.get_params()
        defaults = self._defaults(given, budget())
        return self._checked({k: (defaults[k] if v is None and k in defaults else v) for k, v in given.items()})

    def _architecture_of(self, params: dict) -> dict:
        return {k: params[k] for k in self._architecture}

    def _data_architecture(self) -> dict:
        """Architecture learned from the data at fit time (e.g. the channel count)."""
        return {}

    def _set_data_architecture(self, arch: dict) -> None:
        pass

    # ------------------------------------------------------------------ fitted state
    def _check_fitted(self) -> None:
        if getattr(self, "log_", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(...) first")

    @property
    def history_(self) -> dict:
        """The training curves of the last fit (``log_.curves``)."""
        self._check_fitted()
        return self.log_.curves

    def n_parameters(self) -> int:
        """Number of learned parameters over all networks (``nn.Parameter`` entries)."""
        self._check_fitted()
        return sum(count_parameters(getattr(self, n)) for n in self._networks)

    def _run_fit(self: E, train: Callable[[E, torch.Generator], dict], device=None) -> E:
        """Run ``train(model, generator) -> curves`` on a copy; adopt its state when it succeeds.

        Resolves the parameters, seeds a private generator with ``seed`` (the
        global random state is left as it was), times the run and writes the
        training log. A failure or an interrupt leaves ``self`` untouched.
        """
        new = copy.copy(self)
        new.params_ = self.resolve_params()
        new.device_ = device if device is not None else pick_device(getattr(self, "device", None))
        with Timer(new.device_) as t, isolated_seed(int(new.params_.get("seed", 0))) as g:
            curves = train(new, g)
        settings = {k: v for k, v in new.params_.items() if k not in self._architecture}
        new.log_ = TrainingLog(settings, budget().name, str(new.device_), t.seconds, dict(curves or {}))
        new.threshold_ = None  # thresholds belong to a fit: a new fit has none until they are chosen
        self.__dict__.update(new.__dict__)
        return self

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        """Learned state besides the networks' weights (tensors, numbers, strings)."""
        return {}

    def _set_state(self, state: dict) -> None:
        pass

    def _build_networks(self) -> dict[str, nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, path: str | Path, half: bool = False) -> Path:
        """Write every learned network and buffer, the training log and the configuration to ``path``.

        Written to a temporary file first and moved into place, so an
        interrupted save never leaves a truncated checkpoint behind.
        ``half``: the networks' floating-point weights are stored as float16
        (half the file); they load back as float32, rounded to float16's
        precision (a relative error of at most 2^-11).
        """
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt = {
            "format": CHECKPOINT_FORMAT,
            "package": __version__,
            "class": type(self).__name__,
            "architecture": {**self._architecture_of(self.params_), **self._data_architecture()},
            "settings": {k: v for k, v in self.params_.items() if k not in self._architecture},
            "networks": {
                n: {k: _stored(v, half) for k, v in getattr(self, n).state_dict().items()} for n in self._networks
            },
            "state": self._get_state(),
            "log": self.log_.to_state(),
            "threshold": None if (t := getattr(self, "threshold_", None)) is None else t.to_dict(),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            torch.save(ckpt, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    def load(self: E, path: str | Path) -> E:
        """Load a checkpoint written by :meth:`save` into this model; returns ``self``.

        Refuses (``ValueError`` naming the field) a checkpoint of another class
        or of another architecture than this model's constructor asked for;
        arguments left ``None`` take the checkpoint's value. Training settings
        are not compared: they come with the checkpoint (``log_.settings``).
        Nothing is changed unless the whole checkpoint loads.
        """
        return self._load_checkpoint(read_checkpoint(path), path)

    @classmethod
    def from_checkpoint(cls: type[E], path: str | Path, **runtime) -> E:
        """Rebuild a fitted model from a checkpoint alone (``runtime``: e.g. ``device="cpu"``).

        Called on a base class (``Detector.from_checkpoint``) it rebuilds
        whichever subclass wrote the file.
        """
        return cls.from_checkpoint_dict(read_checkpoint(path), path, **runtime)

    @classmethod
    def from_checkpoint_dict(cls: type[E], ckpt: dict, path: str | Path = "<checkpoint>", **runtime) -> E:
        """:meth:`from_checkpoint` for a checkpoint already read by :func:`read_checkpoint`."""
        name = ckpt["class"]
        klass = _REGISTRY.get(name)
        if klass is None or not issubclass(klass, cls):
            raise ValueError(f"{path} holds a {name}, not a {cls.__name__}")
        names = klass.param_names()
        given = {**ckpt["settings"], **ckpt["architecture"]}
        model: E = klass(**{k: v for k, v in given.items() if k in names}, **runtime)
        return model._load_checkpoint(ckpt, path)

    def _load_checkpoint(self: E, ckpt: dict, path) -> E:
        if ckpt["class"] != type(self).__name__:
            raise ValueError(f"{path} holds a {ckpt['class']}, not a {type(self).__name__}")
        arch = ckpt["architecture"]
        given = self.get_params()
        mine = self._checked(given)
        diff = [
            f"{k}: checkpoint {arch.get(k)!r} vs this {type(self).__name__} {mine[k]!r}"
            for k in self._architecture
            if given[k] is not None and arch.get(k) != mine[k]
        ]
        if diff:
            raise ValueError(
                f"{path} holds another architecture ({'; '.join(diff)}); build the detector "
                f"with those values or use {type(self).__name__}.from_checkpoint(path)"
            )
        new = copy.copy(self)
        # a setting the checkpoint predates takes this model's value (a new inference setting's default)
        new.params_ = {
            **{k: v for k, v in mine.items() if k not in self._architecture},
            **ckpt["settings"],
            **{k: arch[k] for k in self._architecture},
        }
        new._set_data_architecture(arch)
        new.device_ = pick_device(getattr(self, "device", None))
        try:
            nets = new._build_networks()
            for name, net in nets.items():
                if name not in ckpt["networks"]:
                    raise ValueError(f"network {name!r} is missing")
                net.load_state_dict(ckpt["networks"][name])
                setattr(new, name, net.to(new.device_).eval())
            new._set_state(ckpt["state"])
            new.log_ = TrainingLog.from_state(ckpt["log"])
            new.threshold_ = None if ckpt.get("threshold") is None else Thresholds.from_dict(ckpt["threshold"])
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"checkpoint {path} does not fit a {type(self).__name__} of its own architecture ({err})"
            ) from err
        self.__dict__.update(new.__dict__)
        return self
