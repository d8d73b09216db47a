"""The one Detector contract every method follows.

    det = SomeDetector(image_size=64, ...)      # hyper-parameters only
    det.fit(train_images)                       # returns det, so calls chain
    out = det.predict(test_images)              # out.scores [N], out.maps [N, H, W]

Images are float tensors in [0, 1], shape [N, C, H, W], C = 1 or 3, of any
height and width: a detector works internally at its ``image_size`` (resizing
on the way in) and returns maps at the input's H x W (resizing on the way
out). Larger scores mean more anomalous. Learned state lives in attributes
ending in ``_`` (scikit-learn's convention); ``save``/``load`` store it with
the configuration, and ``load`` refuses a checkpoint of another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checks import as_images, check_range
from ..runtime import Timer, device as pick_device

__all__ = ["Detection", "Detector", "NotFittedError"]


class NotFittedError(RuntimeError):
    """predict or save was called before fit."""


@dataclass
class Detection:
    """What ``predict`` returns.

    ``scores`` [N] one per image; ``maps`` [N, H, W] per pixel, at the input's
    size; ``ms_per_image`` the inference time; ``extras`` method-specific
    tensors (e.g. reconstructions [N, C, H, W]).
    """

    scores: torch.Tensor
    maps: torch.Tensor
    ms_per_image: float
    extras: dict

    def masks(self, tau: float) -> torch.Tensor:
        """Binary masks [N, H, W]: pixels whose map value is at least ``tau`` (in [0, 1])."""
        tau = check_range(tau, "tau", 0.0, 1.0)
        return (self.maps >= tau).float()


class Detector:
    """Base class: validation, resizing, batching, timing, save and load.

    Subclasses set ``_config_keys`` (the constructor arguments that define a
    configuration) and implement ``_fit(x, anomalies)`` and
    ``_predict(x) -> (scores, maps, extras)`` on images already validated and
    resized to ``image_size``, on ``self.device_``.
    """

    _config_keys: tuple[str, ...] = ()

    # ------------------------------------------------------------------ helpers
    def config(self) -> dict:
        """The hyper-parameters that define this detector."""
        return {k: getattr(self, k) for k in self._config_keys}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(train_images) first")

    def _prepare(self, images, name: str = "images") -> torch.Tensor:
        x = as_images(images, name)
        fitted_c = getattr(self, "channels_", None)
        if fitted_c is not None and x.shape[1] != fitted_c:
            raise ValueError(f"{name} have {x.shape[1]} channels but the detector was fitted on {fitted_c}")
        return x

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        s = self.image_size
        if x.shape[-2:] == (s, s):
            return x
        shrink = x.shape[-1] > s or x.shape[-2] > s
        return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)

    def _device(self):
        return pick_device(getattr(self, "device", None))

    # ------------------------------------------------------------------ the contract
    def fit(self, images, anomalies=None) -> "Detector":
        """Learn from normal ``images`` (and, for methods that use them, a few ``anomalies``)."""
        x = self._prepare(images, "images")
        a = None
        if anomalies is not None:
            a = as_images(anomalies, "anomalies")
            if a.shape[1] != x.shape[1]:
                raise ValueError(f"anomalies have {a.shape[1]} channels but images {x.shape[1]}")
        self.device_ = self._device()
        self.channels_ = x.shape[1]
        self._fit(self._resize(x), None if a is None else self._resize(a))
        return self

    @torch.no_grad()
    def predict(self, images, batch_size: int = 64) -> Detection:
        """Scores [N] and maps [N, H, W] at the input's size."""
        self._check_fitted()
        x = self._prepare(images, "images")
        h, w = x.shape[-2:]
        scores, maps, extras = [], [], {}
        with Timer(self.device_) as t:
            for i in range(0, x.shape[0], batch_size):
                xb = self._resize(x[i:i + batch_size]).to(self.device_)
                s, m, e = self._predict(xb)
                scores.append(s.float().cpu())
                maps.append(m.float().cpu())
                for k, v in e.items():
                    extras.setdefault(k, []).append(v.float().cpu())
        maps_t = torch.cat(maps)
        if maps_t.shape[-2:] != (h, w):
            maps_t = F.interpolate(maps_t[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        out_extras = {}
        for k, v in extras.items():
            v = torch.cat(v)
            if v.dim() == 4 and v.shape[-2:] != (h, w):
                v = F.interpolate(v, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
            out_extras[k] = v
        return Detection(torch.cat(scores), maps_t, t.ms_per(x.shape[0]), out_extras)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the configuration and learned weights to ``path``."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"detector": type(self).__name__, "config": self.config(), "channels": self.channels_,
                 "state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()},
                 "extra": self._extra_state()}
        torch.save(state, path)
        return path

    def load(self, path: str | Path) -> "Detector":
        """Load weights saved by :meth:`save`; refuses a checkpoint of another class or configuration."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
            raise ValueError(f"cannot read checkpoint {path}: {err}") from err
        if not isinstance(state, dict) or "config" not in state or "state_dict" not in state:
            raise ValueError(f"{path} is not an anotutor checkpoint")
        if state.get("detector") != type(self).__name__:
            raise ValueError(f"{path} holds a {state.get('detector')}, not a {type(self).__name__}")
        mine = self.config()
        diff = {k: (state["config"].get(k), v) for k, v in mine.items() if state["config"].get(k) != v}
        if diff:
            details = ", ".join(f"{k}: checkpoint {a!r} vs this detector {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{path} was saved with another configuration ({details})")
        self.device_ = self._device()
        self.channels_ = int(state["channels"])
        self.model_ = self._build_model().to(self.device_)
        self.model_.load_state_dict(state["state_dict"])
        self.model_.eval()
        self._load_extra_state(state.get("extra", {}))
        return self

    # ------------------------------------------------------------------ for subclasses
    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, extra: dict) -> None:
        pass

    def _build_model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, x: torch.Tensor, anomalies: torch.Tensor | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def _predict(self, x: torch.Tensor):  # pragma: no cover
        raise NotImplementedError
