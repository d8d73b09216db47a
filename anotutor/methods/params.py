"""Declared parameters: each constructor argument of a model once, with its check and its kind.

A model lists its parameters in ``_spec`` (name -> :class:`Param`); the
constructor only stores what it is given (``self._store(locals())``), and
the spec checks it there, in :meth:`Estimator.set_params` and when a fit
resolves the parameters, where the canonical value (an ``int`` for ``8.0``,
a sorted tuple for a list) goes into ``params_``. The kind says what a
parameter is:

* ``architecture``: shapes the networks; a checkpoint of another value is refused;
* ``training``: how the networks learn (steps, learning rate, noise, ...);
* ``inference``: how a fitted model scores; :meth:`Estimator.with_params`
  gives a view of a fitted model with other values, without retraining.

A check is a function ``(value, params) -> canonical value`` that raises a
``ValueError`` naming the field; ``params`` holds the canonical values of the
parameters declared before it (a U-Net's size rule reads ``depth``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..checks import check_int, check_range

__all__ = [
    "Param",
    "ARCHITECTURE",
    "TRAINING",
    "INFERENCE",
    "KINDS",
    "integer",
    "real",
    "choice",
    "flag",
    "working_size",
    "custom",
    "TRAINING_SPEC",
    "canonical",
]

ARCHITECTURE, TRAINING, INFERENCE = "architecture", "training", "inference"
KINDS = (ARCHITECTURE, TRAINING, INFERENCE)


@dataclass(frozen=True)
class Param:
    """One parameter: its ``kind`` (:data:`KINDS`), its ``check`` and whether ``None`` is allowed
    (``optional``: the budget's value, or a value derived from the others)."""

    kind: str
    check: Callable[[Any, Mapping], Any]
    optional: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def integer(kind: str, name: str, minimum: int = 1, maximum: int | None = None, optional: bool = False) -> Param:
    return Param(kind, lambda v, p: check_int(v, name, minimum=minimum, maximum=maximum), optional)


def real(
    kind: str,
    name: str,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Param:
    return Param(kind, lambda v, p: check_range(v, name, low, high, low_open=low_open, high_open=high_open), optional)


def choice(kind: str, name: str, options) -> Param:
    options = tuple(options)

    def check(v, p):
        if v not in options:
            raise ValueError(f"{name} must be one of {options}, got {v!r}")
        return v

    return Param(kind, check)


def flag(kind: str, name: str) -> Param:
    def check(v, p):
        if v is True or v is False or (hasattr(v, "dtype") and str(v.dtype) == "bool"):
            return bool(v)
        raise ValueError(f"{name} must be True or False, got {v!r}")

    return Param(kind, check)


def working_size(
    rule: Callable[[Any, Mapping], object] | None = None, minimum: int = 1, optional: bool = True
) -> Param:
    """The working size: an architecture parameter, ``None`` for the budget's, obeying ``rule(value,
    params)`` (a network's size rule, raising a ValueError) when given."""

    def check(v, p):
        v = check_int(v, "image_size", minimum=minimum)
        if rule is not None:
            rule(v, p)
        return v

    return Param(ARCHITECTURE, check, optional)


def custom(kind: str, check: Callable[[Any, Mapping], Any], optional: bool = False) -> Param:
    return Param(kind, check, optional)


# The training run every trained model shares (None: the budget's value).
TRAINING_SPEC = {
    "steps": integer(TRAINING, "steps", optional=True),
    "batch_size": integer(TRAINING, "batch_size", optional=True),
    "lr": real(TRAINING, "lr", 0.0, 1.0, low_open=True),
    "seed": integer(TRAINING, "seed", minimum=0),
}


def canonical(spec: Mapping[str, Param], params: Mapping[str, Any]) -> dict:
    """``params`` checked by ``spec``, in the spec's order, as canonical values (None kept where
    allowed); a ``ValueError`` naming the first field that fails."""
    out: dict = {}
    for name, param in spec.items():
        value = params[name]
        if value is None and param.optional:
            out[name] = None
        elif value is None:
            raise ValueError(f"{name} must be given, got None")
        else:
            out[name] = param.check(value, out)
    return out
