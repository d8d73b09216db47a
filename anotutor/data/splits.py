"""The split objects every data source returns.

A :class:`Split` holds images [N, C, H, W] (float in [0, 1]), binary masks
[N, H, W] (all zero for normal images; ``None`` where a data set has no pixel
labels, e.g. MNIST), image labels [N] (0 normal, 1 anomalous) and the kind of
each image ("good" or a defect name). An :class:`AnomalyDataset` bundles the
four splits the book uses:

* ``train``      normal images only (what an unsupervised method learns from);
* ``anomalies``  a few labelled anomalies, for the methods that use some
  (Noisy-AnoGAN's p_an, PNUNet's positive masks);
* ``val``        normal and anomalous images for choosing thresholds;
* ``test``       normal and anomalous images for the reported numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

from ..checks import as_images, as_masks

__all__ = ["Split", "AnomalyDataset"]


@dataclass
class Split:
    images: torch.Tensor
    labels: torch.Tensor
    kinds: list[str]
    masks: torch.Tensor | None = None

    def __post_init__(self):
        if self.images.shape[0] == 0:
            # an empty split is allowed (e.g. no known anomalies), but keep its shape consistent
            self.labels = self.labels.reshape(0).long()
            if self.masks is not None and self.masks.shape[0] != 0:
                raise ValueError("an empty split cannot hold masks")
            return
        self.images = as_images(self.images, "Split.images")
        n = self.images.shape[0]
        self.labels = torch.as_tensor(self.labels).long().reshape(-1)
        if self.labels.numel() != n:
            raise ValueError(f"Split has {n} images but {self.labels.numel()} labels")
        if not bool(((self.labels == 0) | (self.labels == 1)).all()):
            raise ValueError("Split labels must be 0 (normal) or 1 (anomalous)")
        if len(self.kinds) != n:
            raise ValueError(f"Split has {n} images but {len(self.kinds)} kinds")
        if self.masks is not None:
            self.masks = as_masks(self.masks, "Split.masks", like=self.images)
            normal_with_defect = (self.labels == 0) & (self.masks.flatten(1).amax(1) > 0)
            if bool(normal_with_defect.any()):
                raise ValueError("Split: a normal image (label 0) has a non-empty mask")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        h, w = self.images.shape[-2:]
        return int(h), int(w)

    def counts(self) -> dict[str, int]:
        """How many images of each kind."""
        return dict(sorted(Counter(self.kinds).items()))

    def subset(self, index) -> Split:
        """The images at ``index`` (a list, tensor of indices or boolean mask)."""
        idx = torch.as_tensor(index)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().reshape(-1)
        idx = idx.long().reshape(-1)
        return Split(
            self.images[idx],
            self.labels[idx],
            [self.kinds[i] for i in idx.tolist()],
            None if self.masks is None else self.masks[idx],
        )

    def per_kind(self, n, seed: int = 0) -> Split:
        """At most ``n`` images of each kind (``n`` an int, or a dict kind -> count), drawn at random.

        For a smaller test set with a stated composition, e.g.
        ``test.per_kind({"good": 100, **{f"digit_{d}": 11 for d in ...}})``.
        """
        counts = n if isinstance(n, dict) else {k: n for k in set(self.kinds)}
        for k, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"per_kind counts must be integers >= 0, got {k!r}: {v!r}")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(int(seed))).tolist()
        taken: dict[str, int] = {}
        keep = []
        for i in order:
            k = self.kinds[i]
            if taken.get(k, 0) < counts.get(k, 0):
                taken[k] = taken.get(k, 0) + 1
                keep.append(i)
        return self.subset(sorted(keep))

    def of_kind(self, *kinds: str) -> Split:
        """Only the images of the given kinds, e.g. ``test.of_kind("scratch")`` or ``test.of_kind("good", "hole")``."""
        return self.subset(self.index_of(*kinds))

    def first_of_each_kind(self) -> tuple[list[str], list[int]]:
        """``(kinds, positions)``: the first image of each kind, "good" first, then the defect kinds
        in sorted order (the rows of a figure that follows one image of each kind)."""
        kinds = sorted(set(self.kinds), key=lambda k: (k != "good", k))
        return kinds, [self.kinds.index(k) for k in kinds]

    def index_of(self, *kinds: str) -> list[int]:
        """Positions of the images of the given kinds (to pick the same rows out of a Detection)."""
        if not kinds:
            raise ValueError("give at least one kind")
        for kind in kinds:
            if kind not in self.kinds:
                raise ValueError(f"no images of kind {kind!r}; kinds here: {sorted(set(self.kinds))}")
        return [i for i, k in enumerate(self.kinds) if k in kinds]


@dataclass
class AnomalyDataset:
    name: str
    train: Split
    anomalies: Split
    val: Split
    test: Split
    info: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line per split: its size and its kinds."""
        lines = [f"{self.name}: images {tuple(self.train.images.shape[1:])}"]
        for part in ("train", "anomalies", "val", "test"):
            split = getattr(self, part)
            counts = [f"{k} {v}" for k, v in split.counts().items()]
            rows = [", ".join(counts[i : i + 5]) for i in range(0, len(counts), 5)] or ["-"]
            lines.append(f"  {part:<9} {len(split):>5}  {rows[0]}")
            lines += [" " * 19 + r for r in rows[1:]]
        return "\n".join(lines)
