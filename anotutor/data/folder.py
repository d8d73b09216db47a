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
Those images are then in neither val nor test. :func:`save_folder` writes
splits the other way, into this layout (to try the loader, or to hand the book's
data to another tool).
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import torch

from ..checks import as_images, check_int, check_range
from ..runtime import as_rng, budget
from .splits import AnomalyDataset, Split

__all__ = [
    "IMAGE_EXTENSIONS",
    "load_folder",
    "load_normals",
    "read_image",
    "image_files",
    "save_folder",
    "download_mvtec",
    "MVTEC_CATEGORIES",
    "MVTEC_ARCHIVE",
    "sha256sum",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

MVTEC_CATEGORIES = (
    "bottle",
    "cable",
    "capsule",
    "carpet",
    "grid",
    "hazelnut",
    "leather",
    "metal_nut",
    "pill",
    "screw",
    "tile",
    "toothbrush",
    "transistor",
    "wood",
    "zipper",
)

# The official archive of all 15 categories (5.3 GB), as MVTec shares it.
MVTEC_ARCHIVE = {
    "url": "https://www.mydrive.ch/shares/38536/3830184030e49fe74747669442f0f282/download/"
    "420938113-1629952094/mvtec_anomaly_detection.tar.xz",
    "sha256": "cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d",
    "page": "https://www.mvtec.com/company/research/datasets/mvtec-ad",
}


_IGNORED = ("thumbs.db", "desktop.ini")  # files that file browsers leave in image folders


def _images_in(folder: Path, root: Path | None = None) -> list[Path]:
    """The images of ``folder``; a ValueError naming any other file (hidden files are skipped)."""
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name.lower() not in _IGNORED
    ]
    other = sorted(str(p.relative_to(root) if root else p) for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS)
    if other:
        raise ValueError(
            f"{folder} holds files that are not images ({', '.join(other[:5])}"
            f"{', ...' if len(other) > 5 else ''}); image folders may hold only "
            f"{', '.join(IMAGE_EXTENSIONS)} files. Move the others out."
        )
    return sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS)


def _size_of(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err


def _read(path: Path, channels: int, size: int | None, is_mask: bool = False) -> np.ndarray:
    """One image as float [C, size, size] in [0, 1] (or a binary mask [size, size]); ``size=None``
    keeps the file's own height and width."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
            mode = im.mode
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.integer):
        top = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        arr = arr.astype(np.float64) / top
    else:
        arr = arr.astype(np.float64)
    if arr.ndim == 3 and arr.shape[2] == 4:  # drop alpha
        arr = arr[:, :, :3]
    if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        arr = arr[:, :, :1]
    if arr.ndim == 2:
        arr = arr[:, :, None]
    arr = np.clip(arr, 0.0, 1.0)
    if is_mask:
        arr = arr.max(axis=2, keepdims=True)
    elif channels == 1 and arr.shape[2] == 3:
        arr = (arr @ np.array([0.299, 0.587, 0.114]))[:, :, None]
    elif channels == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    t = resized(torch.from_numpy(arr).permute(2, 0, 1).float(), size, is_mask)
    return (t[0] > 0.5).float().numpy() if is_mask else t.numpy()


def resized(image: torch.Tensor, size: int | None, is_mask: bool = False) -> torch.Tensor:
    """``image`` [C, H, W] at ``size`` x ``size`` as every reader here resizes (antialiased bilinear;
    nearest for a mask), clamped to [0, 1]; ``size=None`` keeps it as it is."""
    t = image[None]
    if size is not None and t.shape[-2:] != (size, size):
        mode_ = "nearest" if is_mask else "bilinear"
        kw = {} if is_mask else {"antialias": True, "align_corners": False}
        t = torch.nn.functional.interpolate(t, size=(size, size), mode=mode_, **kw)
    return t[0].clamp(0, 1)


def _is_colour(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    except Exception as err:  # noqa: BLE001 - reported with the file name
        raise ValueError(f"cannot read image {path}: {err}") from err
    return bool(np.abs(rgb[:, :, 0] - rgb[:, :, 1]).max() > 2 or np.abs(rgb[:, :, 1] - rgb[:, :, 2]).max() > 2)


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
    train = _images_in(train_dir, root)
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
        for img in _images_in(kind_dir, root):
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
                if _size_of(mask) != _size_of(img):
                    raise ValueError(
                        f"mask {mask.relative_to(root)} is {'x'.join(map(str, _size_of(mask)))} "
                        f"pixels but its image {img.relative_to(root)} is "
                        f"{'x'.join(map(str, _size_of(img)))}: a mask must have its image's size"
                    )
            test.append((img, kind, mask))
    if not test:
        raise _layout_error(root, "test/ holds no images")
    if all(kind == "good" for _, kind, _ in test):
        raise _layout_error(root, "test/ holds no defect folder (only good)")
    return train, test


def read_image(path: str | Path, channels: int, size: int | None = None) -> torch.Tensor:
    """One image file of any format Pillow reads as float [C, H, W] in [0, 1]: grayscale (``channels=1``,
    ITU-R 601 luma) or colour (3), resized to ``size`` x ``size`` (antialiased, as :func:`load_folder`
    does) or, with ``size=None``, at its own size. A file that is no image raises a ValueError naming it."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if size is not None:
        size = check_int(size, "size", minimum=1)
    return torch.from_numpy(_read(Path(path), channels, size))


def image_files(*inputs: str | Path) -> list[Path]:
    """The image files named by ``inputs``: files as given, folders searched recursively (sorted).

    A missing path, a named file that is no image, or no image at all is a ValueError.
    """
    out = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(
                p
                for p in item.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
            )
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(f"{item} is not an image file ({', '.join(IMAGE_EXTENSIONS)})")
            out.append(item)
        else:
            raise ValueError(f"{item} does not exist")
    if not out:
        raise ValueError(f"no image files in {', '.join(map(str, inputs))} ({', '.join(IMAGE_EXTENSIONS)})")
    return out


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
    c = channels if channels is not None else (3 if _is_colour(paths[0]) else 1)
    images = torch.from_numpy(np.stack([_read(p, c, size) for p in paths]))
    return images, [str(p.relative_to(root)) for p in paths], c


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
    c = channels if channels is not None else (3 if _is_colour(train_paths[0]) else 1)

    train_x = torch.from_numpy(np.stack([_read(p, c, size) for p in train_paths]))
    train = Split(
        train_x,
        torch.zeros(len(train_paths), dtype=torch.long),
        ["good"] * len(train_paths),
        torch.zeros(len(train_paths), size, size),
    )
    test_x = torch.from_numpy(np.stack([_read(p, c, size) for p, _, _ in test_items]))
    kinds = [k for _, k, _ in test_items]
    has_masks = all(m is not None for (_, k, m) in test_items if k != "good")
    test_m = (
        torch.from_numpy(
            np.stack(
                [
                    np.zeros((size, size), np.float32) if m is None else _read(m, 1, size, is_mask=True)
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


def sha256sum(path: str | Path, chunk: int = 1 << 22) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _safe_extract(archive: Path, dest: Path, prefix: str | None) -> None:
    with tarfile.open(archive) as tar:
        members = []
        for m in tar.getmembers():
            name = Path(m.name)
            if name.is_absolute() or ".." in name.parts:
                raise ValueError(f"refusing to extract {m.name!r} from {archive}: it leaves the target folder")
            if not (m.isfile() or m.isdir()):
                continue
            if prefix is None or name.parts[:1] == (prefix,):
                members.append(m)
        if not members:
            raise ValueError(f"{archive} holds nothing under {prefix!r}")
        tar.extractall(dest, members=members)


def download_mvtec(
    category: str,
    root: str | Path = "data/mvtec",
    url: str | None = None,
    sha256: str | None = None,
    archive: str | Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch an MVTec AD category into ``root/category`` and return that folder.

    Downloads the official archive (or ``url``), checks its SHA-256 against
    ``sha256`` (the official archive's by default) before anything is
    extracted, and extracts only ``category``. ``archive`` uses a file you
    downloaded by hand instead. Does nothing when the folder is already there.
    MVTec AD is licensed CC BY-NC-SA 4.0 by MVTec Software GmbH.
    """
    if category not in MVTEC_CATEGORIES:
        raise ValueError(f"category must be one of {MVTEC_CATEGORIES}, got {category!r}")
    root = Path(root)
    target = root / category
    if (target / "train" / "good").is_dir():
        return target
    expected = sha256 or (MVTEC_ARCHIVE["sha256"] if url is None else None)
    if expected is None:
        raise ValueError("a custom url needs its sha256, so that the download can be verified")
    root.mkdir(parents=True, exist_ok=True)
    if archive is None:
        url = url or MVTEC_ARCHIVE["url"]
        archive = root / (Path(url.split("?")[0]).name or "mvtec.tar.xz")
        if not archive.is_file():
            part = archive.with_name(archive.name + ".part")
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as f:
                    shutil.copyfileobj(r, f, length=1 << 22)
            except (urllib.error.URLError, OSError, ValueError) as err:
                part.unlink(missing_ok=True)
                raise RuntimeError(
                    f"could not download {url} ({err}). Offline, or the address is stale? Download the "
                    f"archive by hand from {MVTEC_ARCHIVE['page']}, then call "
                    f"download_mvtec({category!r}, {str(root)!r}, archive='path/to/archive'), or extract it "
                    f"yourself so that {target}/train/good exists."
                ) from err
            part.rename(archive)
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist")
    actual = sha256sum(archive)
    if actual != expected.lower():
        raise ValueError(
            f"SHA-256 of {archive} is {actual}, expected {expected}: the file is corrupt, "
            "truncated or not the archive meant. Delete it and download again."
        )
    _safe_extract(archive, root, category)
    if not (target / "train" / "good").is_dir():
        raise ValueError(f"{archive} did not contain {category}/train/good")
    return target
