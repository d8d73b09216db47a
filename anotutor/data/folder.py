"""A reader's own images, in the MVTec AD folder layout, and the MVTec AD download.

The layout (one folder per object or texture category)::

    root/
      train/good/*.png                    normal images to learn from
      test/good/*.png                     normal test images
      test/<defect>/*.png                 defective test images, one folder per kind
      ground_truth/<defect>/<name>_mask.png   a binary mask for each defective image

``ground_truth/`` is optional: when a defect kind has no mask folder, the
test images load without masks (``masks`` is ``None``, a warning says so)
and only image-level metrics can be computed, as on the ELPV solar cells.

Any image format Pillow reads works (png, jpg, bmp, tif), grayscale or colour,
any size: images are resized to ``image_size`` x ``image_size``. MVTec AD has
no validation split, so :func:`load_folder` moves ``val_fraction`` of the test
images (stratified by kind) into one, for choosing thresholds; optionally
``n_known`` defective images become the known anomalies some methods use.
Those images are then in neither val nor test. :func:`~.writer.save_folder` writes
splits the other way, into this layout; :mod:`.mvtec` downloads MVTec AD
itself, and :mod:`.images` decodes the files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..checks import check_int, check_range
from ..runtime import as_rng, budget
from .images import decode, images_in, is_colour, size_of
from .mvtec import MVTEC_ARCHIVE
from .splits import AnomalyDataset, Split

__all__ = ["source_px", "load_folder", "load_normals"]


def _layout_error(root: Path, what: str) -> ValueError:
    found = sorted(str(p.relative_to(root)) for p in root.glob("*/*") if p.is_dir())[:10]
    return ValueError(
        f"{root} is not in the MVTec AD layout: {what}. Expected train/good/, test/good/, "
        f"test/<defect>/ and ground_truth/<defect>/<name>_mask.png; found folders {found}"
    )


def _train_images(root: Path) -> list[Path]:
    """The images of ``train/good``; a layout error when the folder is missing or empty."""
    train_dir = root / "train" / "good"
    if not train_dir.is_dir():
        raise _layout_error(root, "no folder train/good")
    train = images_in(train_dir, root)
    if not train:
        raise _layout_error(root, "train/good holds no images")
    return train


def _scan(root: Path) -> tuple[list[Path], list[tuple[Path, str, Path | None]]]:
    train = _train_images(root)
    test_dir = root / "test"
    if not test_dir.is_dir():
        raise _layout_error(root, "no folder test")
    test: list[tuple[Path, str, Path | None]] = []
    kind_dirs = sorted(p for p in test_dir.iterdir() if p.is_dir())
    unmasked = [p.name for p in kind_dirs if p.name != "good" and not (root / "ground_truth" / p.name).is_dir()]
    if unmasked:
        warnings.warn(
            f"{root}: test kind(s) {', '.join(unmasked)} have no ground_truth/<kind> folder with "
            "masks; image metrics only (no pixel AUROC, AUPRO or pixel F1)",
            stacklevel=3,
        )
    for kind_dir in kind_dirs:
        kind = kind_dir.name
        for img in images_in(kind_dir, root):
            mask = None
            if kind != "good" and not unmasked:
                mask = root / "ground_truth" / kind / f"{img.stem}_mask.png"
                if not mask.is_file():
                    candidates = list((root / "ground_truth" / kind).glob(f"{img.stem}_mask.*"))
                    if not candidates:
                        raise _layout_error(
                            root, f"no mask for {img.relative_to(root)} (expected {mask.relative_to(root)})"
                        )
                    mask = candidates[0]
                if size_of(mask) != size_of(img):
                    raise ValueError(
                        f"mask {mask.relative_to(root)} is {'x'.join(map(str, size_of(mask)))} "
                        f"pixels but its image {img.relative_to(root)} is "
                        f"{'x'.join(map(str, size_of(img)))}: a mask must have its image's size"
                    )
            test.append((img, kind, mask))
    if not test:
        raise _layout_error(root, "test/ holds no images")
    if all(kind == "good" for _, kind, _ in test):
        raise _layout_error(root, "test/ holds no defect folder (only good)")
    return train, test


def load_normals(
    root: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
    max_train: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, list[str], int]:
    """The ``train/good`` images of a folder that may hold nothing else: ``(images, files, channels)``.

    For fitting a model on a folder without defects (``anotutor fit``); the
    same reading, size and channel choice as :func:`load_folder`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist or is not a folder")
    size = check_int(image_size if image_size is not None else budget().image_size, "image_size", minimum=16)
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    paths = _train_images(root)
    if max_train is not None and len(paths) > check_int(max_train, "max_train", minimum=1):
        keep = sorted(as_rng(seed).choice(len(paths), size=max_train, replace=False).tolist())
        paths = [paths[i] for i in keep]
    c = channels if channels is not None else (3 if is_colour(paths[0]) else 1)
    images = torch.from_numpy(np.stack([decode(p, c, size) for p in paths]))
    return images, [str(p.relative_to(root)) for p in paths], c


def source_px(paths) -> int:
    """The median shorter side, in pixels, of the image files ``paths`` (read from their headers): what a
    working size is compared with, to say when images are enlarged rather than shrunk."""
    sides = sorted(min(size_of(Path(p))) for p in paths)
    return int(sides[len(sides) // 2]) if sides else 0


def load_folder(
    root: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
    val_fraction: float = 0.25,
    n_known: int = 0,
    max_train: int | None = None,
    seed: int = 0,
) -> AnomalyDataset:
    """Load a folder in the MVTec AD layout into the book's splits.

    ``channels`` is 1 (grayscale) or 3 (colour); ``None`` picks colour when the
    first training image has colour. ``max_train`` keeps a random subset of
    the training images (for a quick run on a CPU).
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(
            f"data folder {root} does not exist. For MVTec AD, call "
            f"anotutor.data.download_mvtec(category, root) or place the files by hand "
            f"(see {MVTEC_ARCHIVE['page']})"
        )
    if not root.is_dir():
        raise ValueError(f"{root} is a file, expected a folder in the MVTec AD layout")
    size = check_int(image_size if image_size is not None else budget().image_size, "image_size", minimum=16)
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    val_fraction = check_range(val_fraction, "val_fraction", 0.0, 1.0, high_open=True)
    n_known = check_int(n_known, "n_known", minimum=0)
    rng = as_rng(seed)
    train_paths, test_items = _scan(root)
    if max_train is not None:
        max_train = check_int(max_train, "max_train", minimum=1)
        if len(train_paths) > max_train:
            keep = sorted(rng.choice(len(train_paths), size=max_train, replace=False).tolist())
            train_paths = [train_paths[i] for i in keep]
    c = channels if channels is not None else (3 if is_colour(train_paths[0]) else 1)

    train_x = torch.from_numpy(np.stack([decode(p, c, size) for p in train_paths]))
    train = Split(
        train_x,
        torch.zeros(len(train_paths), dtype=torch.long),
        ["good"] * len(train_paths),
        torch.zeros(len(train_paths), size, size),
    )
    test_x = torch.from_numpy(np.stack([decode(p, c, size) for p, _, _ in test_items]))
    kinds = [k for _, k, _ in test_items]
    has_masks = all(m is not None for (_, k, m) in test_items if k != "good")
    test_m = (
        torch.from_numpy(
            np.stack(
                [
                    np.zeros((size, size), np.float32) if m is None else decode(m, 1, size, is_mask=True)
                    for _, _, m in test_items
                ]
            )
        )
        if has_masks
        else None
    )
    labels = torch.tensor([0 if k == "good" else 1 for k in kinds])
    pool = Split(test_x, labels, kinds, test_m)

    bad = [i for i, k in enumerate(kinds) if k != "good"]
    if n_known > len(bad) - 1:
        raise ValueError(f"n_known={n_known} leaves no defective image to test on ({len(bad)} in the folder)")
    known = sorted(rng.choice(bad, size=n_known, replace=False).tolist()) if n_known else []
    val, test = [], []
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind and i not in known]
        idx = rng.permutation(idx).tolist()
        n_val = int(round(len(idx) * val_fraction))
        val += idx[:n_val]
        test += idx[n_val:]
    empty = Split(torch.zeros(0, c, size, size), torch.zeros(0), [], torch.zeros(0, size, size) if has_masks else None)
    return AnomalyDataset(
        root.name,
        train,
        pool.subset(known) if known else empty,
        pool.subset(sorted(val)) if val else empty,
        pool.subset(sorted(test)),
        info={
            "root": str(root),
            "channels": c,
            "image_size": size,
            "source_px": source_px(train_paths),
            "val_fraction": val_fraction,
            "seed": seed,
            "n_known": n_known,
            "masks": has_masks,
            "files": {
                "train": [str(p.relative_to(root)) for p in train_paths],
                **{
                    name: [str(test_items[i][0].relative_to(root)) for i in sorted(idx)]
                    for name, idx in (("anomalies", known), ("val", val), ("test", test))
                },
            },
        },
    )
