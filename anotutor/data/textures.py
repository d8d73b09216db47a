"""The embedded default data: crops of real texture photographs.

scikit-image ships three 512 x 512 grayscale photographs of textures --
``brick``, ``grass`` and ``gravel`` -- inside the package, so this data set
needs no network. Each split is cut from its own region of the photograph, so
no test pixel was ever seen in training:

    rows   0-319, all columns     train and the known anomalies
    rows 320-511, columns   0-255 validation
    rows 320-511, columns 256-511 test

(:data:`REGIONS`, as ``(row0, row1, col0, col1)`` with the ends excluded.)

A crop is ``crop`` native pixels wide (128 by default), randomly flipped, and
resized to ``image_size``. Half of the validation and test crops (and all
known anomalies) get a defect from :mod:`anotutor.data.defects`, the kinds
taken in turn.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch

from ..checks import check_int, check_range
from ..runtime import as_rng, budget
from .defects import DEFECT_KINDS, add_defects
from .images import resize
from .splits import AnomalyDataset, Split

__all__ = ["TEXTURES", "REGIONS", "texture_photo", "texture_crops", "textures"]

TEXTURES = ("brick", "grass", "gravel")

# (row0, row1, col0, col1) of each split's region in the 512 x 512 photograph, rows and
# columns end-exclusive; read-only, so that a chapter drawing them cannot move them
REGIONS = MappingProxyType({"train": (0, 320, 0, 512), "val": (320, 512, 0, 256), "test": (320, 512, 256, 512)})


def texture_photo(name: str) -> np.ndarray:
    """The full photograph as float64 [H, W] in [0, 1]."""
    if name not in TEXTURES:
        raise ValueError(f"texture must be one of {TEXTURES}, got {name!r}")
    from skimage import data

    img = getattr(data, name)()
    return img.astype(np.float64) / 255.0


def texture_crops(
    name: str, n: int, image_size: int, region: str = "train", crop: int = 128, seed=None
) -> torch.Tensor:
    """``n`` random crops [n, 1, image_size, image_size] from one region of a photograph."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {sorted(REGIONS)}, got {region!r}")
    n = check_int(n, "n", minimum=0)
    image_size = check_int(image_size, "image_size", minimum=16)
    r0, r1, c0, c1 = REGIONS[region]
    crop = check_int(crop, "crop", minimum=16, maximum=min(r1 - r0, c1 - c0))
    if n == 0:
        return torch.zeros(0, 1, image_size, image_size)
    photo = texture_photo(name)
    rng = as_rng(seed)
    out = np.empty((n, crop, crop))
    for i in range(n):
        y = rng.integers(r0, r1 - crop + 1)
        x = rng.integers(c0, c1 - crop + 1)
        patch = photo[y : y + crop, x : x + crop]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        if rng.random() < 0.5:
            patch = patch[::-1, :]
        out[i] = patch
    t = torch.from_numpy(out).float()[:, None]
    return resize(t, image_size).clamp(0.0, 1.0)


def _defective_split(name, n, image_size, region, crop, anomaly_fraction, rng):
    images = texture_crops(name, n, image_size, region, crop, rng)
    n_bad = int(round(n * anomaly_fraction))
    kinds = ["good"] * (n - n_bad) + [DEFECT_KINDS[i % len(DEFECT_KINDS)] for i in range(n_bad)]
    masks = torch.zeros(n, image_size, image_size)
    if n_bad:
        images[n - n_bad :], masks[n - n_bad :] = add_defects(images[n - n_bad :], kinds[n - n_bad :], rng)
    labels = torch.tensor([0 if k == "good" else 1 for k in kinds])
    return Split(images, labels, kinds, masks)


def textures(
    name: str = "brick",
    image_size: int | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    n_known: int = 8,
    anomaly_fraction: float = 0.5,
    crop: int = 128,
    seed: int = 0,
) -> AnomalyDataset:
    """The embedded texture data set (see the module docstring).

    Sizes default to the current :func:`anotutor.runtime.budget`. ``n_known``
    is the number of labelled anomalies for the methods that use a few.
    """
    b = budget()
    image_size = check_int(image_size if image_size is not None else b.image_size, "image_size", minimum=16)
    n_train = check_int(n_train if n_train is not None else b.n_train, "n_train", minimum=1)
    n_val = check_int(n_val if n_val is not None else b.n_val, "n_val", minimum=2)
    n_test = check_int(n_test if n_test is not None else b.n_test, "n_test", minimum=2)
    n_known = check_int(n_known, "n_known", minimum=0)
    anomaly_fraction = check_range(anomaly_fraction, "anomaly_fraction", 0.0, 1.0, low_open=True, high_open=True)
    rng = as_rng(seed)
    train_images = texture_crops(name, n_train, image_size, "train", crop, rng)
    train = Split(
        train_images,
        torch.zeros(n_train, dtype=torch.long),
        ["good"] * n_train,
        torch.zeros(n_train, image_size, image_size),
    )
    known = _defective_split(name, n_known, image_size, "train", crop, 1.0, rng)
    val = _defective_split(name, n_val, image_size, "val", crop, anomaly_fraction, rng)
    test = _defective_split(name, n_test, image_size, "test", crop, anomaly_fraction, rng)
    return AnomalyDataset(
        f"textures/{name}", train, known, val, test, info={"source": "scikit-image", "crop": crop, "seed": seed}
    )
