"""Image files streamed for scoring: decoded and resized in ``DataLoader`` workers, one bad file
reported by name instead of stopping the run.

:class:`FileImages` reads file ``i`` as the package reads every image
(:func:`~.images.decode`: any format Pillow opens, grey or colour to the
channels asked for) and resizes it to the working size by the one rule
(:func:`~.images.resize`), so a file scored here is the image a folder
loader gives at that size, bit for bit. A file that cannot be read comes
back as an :class:`ImageItem` with its ``error``; :func:`stream` yields the
items in input order, in batches, from ``workers`` processes (0: this one).
Memory holds a few batches, whatever the number of files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..checks import check_int
from .images import decode, resize

__all__ = ["ImageItem", "FileImages", "stream"]


@dataclass
class ImageItem:
    """One file: its ``path``, the image at the working size [C, s, s] (None when unreadable), its own
    ``size`` (H, W), the whole image [C, H, W] when asked for (tiling), and the ``error`` if any."""

    path: Path
    image: torch.Tensor | None
    size: tuple[int, int]
    full: torch.Tensor | None = None
    error: str | None = None


class FileImages(Dataset):
    """``paths`` as :class:`ImageItem`: ``channels`` (1 or 3), resized to ``size`` x ``size``;
    ``keep_full`` also keeps each image at its own size."""

    def __init__(self, paths, channels: int, size: int, keep_full: bool = False):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.paths = [Path(p) for p in paths]
        self.channels, self.size = channels, check_int(size, "size", minimum=1)
        self.keep_full = keep_full

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> ImageItem:
        path = self.paths[i]
        try:
            full = torch.from_numpy(decode(path, self.channels, None)).float()
        except ValueError as err:
            return ImageItem(path, None, (0, 0), error=str(err))
        except Exception as err:  # noqa: BLE001 - any failure of one file is that file's, reported by name
            return ImageItem(path, None, (0, 0), error=f"cannot read image {path}: {type(err).__name__}: {err}")
        h, w = full.shape[-2:]
        return ImageItem(path, resize(full, self.size), (h, w), full if self.keep_full else None)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # a worker decodes; the main process's threads score


def stream(paths, channels: int, size: int, batch_size: int = 16, workers: int = 0, keep_full: bool = False):
    """Batches (lists) of :class:`ImageItem` of ``paths`` in order, decoded by ``workers`` processes."""
    batch_size = check_int(batch_size, "batch_size")
    workers = check_int(workers, "workers", minimum=0)
    data = FileImages(paths, channels, size, keep_full)
    loader = DataLoader(
        data,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=list,
        worker_init_fn=_one_thread if workers else None,
        prefetch_factor=2 if workers else None,
    )
    yield from loader
