"""Image files: which the package reads, and one decoded as the package does everywhere.

:func:`decode` reads any image Pillow opens (png, jpg, bmp, tif; 8 or 16
bits; grey, grey with alpha, RGB, RGBA) as float [C, H, W] in [0, 1] with
the channels asked for (colour to grey by ITU-R 601 luma, grey to colour by
repetition) at a size, or a binary mask; :func:`resize` is the package's one
resizing rule, for readers and detectors alike. :func:`image_files` lists the images of files and
folders given on a command line; :func:`images_in` those of one folder,
refusing any other file by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checks import check_int

__all__ = ["IMAGE_EXTENSIONS", "decode", "resize", "read_image", "image_files", "images_in", "is_colour", "size_of"]


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


_IGNORED = ("thumbs.db", "desktop.ini")  # files that file browsers leave in image folders


def images_in(folder: Path, root: Path | None = None) -> list[Path]:
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


def size_of(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err


def decode(path: Path, channels: int, size: int | None, is_mask: bool = False) -> np.ndarray:
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
    t = resize(torch.from_numpy(arr).permute(2, 0, 1).float(), size, is_mask)
    return (t[0] > 0.5).float().numpy() if is_mask else t.numpy()


def resize(x: torch.Tensor, size: int | None, mask: bool = False) -> torch.Tensor:
    """Images [N, C, H, W] or one image [C, H, W] at ``size`` x ``size``: the package's one resizing rule.

    Bilinear, antialiased when shrinking (each output pixel averages the input pixels that fold
    into it, so a defect smaller than a pixel's footprint is dimmed, not skipped), plain bilinear
    when enlarging (nothing to average); nearest for a ``mask``; clamped to [0, 1]. Images already
    at the size, or ``size=None``, come back unchanged. Every reader, the detectors' working size
    and :mod:`anotutor.data.folder`'s loaders use it.
    """
    if size is None or x.shape[-2:] == (size, size):
        return x
    t = x if x.dim() == 4 else x[None]
    if mask:
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="nearest")
    else:
        shrink = t.shape[-1] > size or t.shape[-2] > size
        t = torch.nn.functional.interpolate(
            t, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
        )
    t = t.clamp(0, 1)
    return t if x.dim() == 4 else t[0]


def is_colour(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    except Exception as err:  # noqa: BLE001 - reported with the file name
        raise ValueError(f"cannot read image {path}: {err}") from err
    return bool(np.abs(rgb[:, :, 0] - rgb[:, :, 1]).max() > 2 or np.abs(rgb[:, :, 1] - rgb[:, :, 2]).max() > 2)


def read_image(path: str | Path, channels: int, size: int | None = None) -> torch.Tensor:
    """One image file of any format Pillow reads as float [C, H, W] in [0, 1]: grayscale (``channels=1``,
    ITU-R 601 luma) or colour (3), resized to ``size`` x ``size`` (antialiased, as :func:`load_folder`
    does) or, with ``size=None``, at its own size. A file that is no image raises a ValueError naming it."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if size is not None:
        size = check_int(size, "size", minimum=1)
    return torch.from_numpy(decode(Path(path), channels, size))


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
