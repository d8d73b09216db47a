"""Splits written into the MVTec AD folder layout (to try the loader, or to hand the book's data to another tool).

:func:`save_folder` is the reverse of :func:`~.folder.load_folder`: normal
training images into ``train/good``, the test split into ``test/good`` and
one folder per defect kind, masks into ``ground_truth``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from ..checks import as_images, check_int
from .splits import Split

__all__ = ["save_folder", "SAVE_FORMATS"]


SAVE_FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg"}


_LAYOUT = ("train", "test", "ground_truth")


def _check_split(split, name: str) -> Split:
    if not isinstance(split, Split):
        raise ValueError(f"{name} must be an anotutor.data.Split, got {type(split).__name__}")
    if len(split) == 0:
        raise ValueError(f"{name} is empty: expected at least one image")
    as_images(split.images, f"{name}.images")  # a Split may have been changed since it was made
    return split


def _folder_name(kind, where: str) -> str:
    if not isinstance(kind, str) or kind in ("", ".", "..") or any(c in kind for c in "/\\\0"):
        raise ValueError(f"{where} must be usable as a folder name (no slashes, not '', '.' or '..'), got {kind!r}")
    return kind


def _to_pil(image: torch.Tensor):
    """[C, H, W] in [0, 1] as an 8-bit grayscale (C = 1) or RGB (C = 3) Pillow image."""
    from PIL import Image

    arr = (image.detach().cpu().double().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0)))


def save_folder(
    root: str | Path, train: Split, test: Split, image_format: str = "png", quality: int = 95, overwrite: bool = False
) -> Path:
    """Write a train and a test :class:`Split` in the MVTec AD layout that :func:`load_folder` reads.

    ``train`` holds normal images only, written to ``train/good/``; each image
    of ``test`` goes to ``test/<kind>/``, and the mask of each defective one
    to ``ground_truth/<kind>/<name>_mask.png`` (no ``ground_truth/`` when
    ``test.masks`` is ``None``). Files are numbered ``000``,
    ``001``, ... in each folder, in the order of the split. Images keep their
    size and are written with 8 bits, grayscale (1 channel) or RGB (3
    channels); masks are always PNG (0 or 255), so that they stay binary.
    ``image_format`` is ``"png"`` (lossless up to the 8 bits) or ``"jpg"``
    (JPEG at ``quality``, lossy). :func:`load_folder` needs at least one
    defective test image; this function writes whatever the splits hold.

    ``root`` must be missing or an empty folder. With ``overwrite=True`` its
    ``train/``, ``test/`` and ``ground_truth/`` folders are deleted first (and
    nothing else in it), so no file of an earlier dataset is left to be read
    back. Returns ``root`` as a :class:`~pathlib.Path`.
    """
    root = Path(root)
    train, test = _check_split(train, "train"), _check_split(test, "test")
    fmt = image_format.lower() if isinstance(image_format, str) else image_format
    if fmt not in SAVE_FORMATS:
        raise ValueError(f"image_format must be one of {sorted(SAVE_FORMATS)}, got {image_format!r}")
    ext = SAVE_FORMATS[fmt]
    quality = check_int(quality, "quality", minimum=1, maximum=100)
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be True or False, got {overwrite!r}")
    anomalous = [i for i in range(len(train)) if int(train.labels[i]) != 0]
    if anomalous:
        raise ValueError(
            f"train must hold normal images only (label 0), which go to train/good; got "
            f"{len(anomalous)} anomalous ones, e.g. image {anomalous[0]} of kind "
            f"{train.kinds[anomalous[0]]!r}"
        )
    for i, (label, kind) in enumerate(zip(test.labels.tolist(), test.kinds)):
        _folder_name(kind, f"test.kinds[{i}]")
        if (label == 0) != (kind == "good"):
            raise ValueError(
                f"test image {i} has label {label} and kind {kind!r}: normal images (label 0) "
                f"must be of kind 'good', anomalous ones (label 1) of a defect kind"
            )
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, expected a folder to write the MVTec AD layout into")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{root} is not empty; pass overwrite=True to replace its train/, test/ and "
                "ground_truth/ folders, or choose an empty or new folder"
            )
        for sub in _LAYOUT:
            if (root / sub).is_dir():
                shutil.rmtree(root / sub)
            elif (root / sub).exists():
                (root / sub).unlink()

    def names(kinds: list[str]) -> list[str]:
        """000, 001, ... within each kind's folder (wider when a folder holds 1000 or more)."""
        total = {k: kinds.count(k) for k in set(kinds)}
        seen = dict.fromkeys(total, 0)
        out = []
        for k in kinds:
            out.append(f"{seen[k]:0{max(3, len(str(total[k] - 1)))}d}")
            seen[k] += 1
        return out

    options = {"quality": quality} if ext == ".jpg" else {}
    (root / "train" / "good").mkdir(parents=True, exist_ok=True)
    for image, name in zip(train.images, names(["good"] * len(train))):
        _to_pil(image).save(root / "train" / "good" / f"{name}{ext}", **options)
    for i, name in enumerate(names(test.kinds)):
        kind = test.kinds[i]
        (root / "test" / kind).mkdir(parents=True, exist_ok=True)
        _to_pil(test.images[i]).save(root / "test" / kind / f"{name}{ext}", **options)
        if kind != "good" and test.masks is not None:
            (root / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
            _to_pil(test.masks[i][None] > 0.5).save(root / "ground_truth" / kind / f"{name}_mask.png")
    return root
