"""Real defects, offline: the ELPV solar cells (Buerhop-Lutz et al. 2018; Deitsch et al. 2019).

The PyPI package ``elpv-dataset`` (data CC BY-NC-SA 4.0, code Apache-2.0,
about 90 MB; ``pip install elpv-dataset``) holds 2,624 electroluminescence
images of solar cells, 300 x 300 grayscale, cut from 44 modules. Experts
gave each cell a probability of being defective (0, 1/3, 2/3 or 1) and a
type (monocrystalline ``mono`` or polycrystalline ``poly``). The defects are
cracks, inactive (dark) regions and interrupted contact fingers. There are
no pixel masks: an image-level benchmark. The data are installed, never
committed to this repository.

:func:`elpv` splits one type's cells, seeded and stratified, never putting a
cell in two splits:

* ``train``: a share ``train_fraction`` of the defect-free cells
  (probability 0);
* ``val`` and ``test``: the other defect-free cells and the defective ones
  (probability 1), each halved between the two;
* ``anomalies``: ``n_known`` defective cells (default none) for the methods
  that learn from a few known anomalies, taken out before the halving;
* ``info["uncertain"]``: the cells of probability 1/3 and 2/3, kept apart
  (``images`` and ``probability``), to ask whether a score rises with the
  experts' doubt.

The package's layout (``labels.csv``: one line ``images/cellNNNN.png
probability type`` per cell, beside the ``images`` folder) is read directly,
so a folder of the same layout works too (``root=``). :func:`write_elpv`
(``anotutor elpv --out DIR``) writes one type in the MVTec AD layout, so the
command line runs on real defects in one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checks import check_int, check_range
from ..runtime import as_rng, budget
from .images import decode
from .splits import AnomalyDataset, Split

__all__ = ["elpv", "write_elpv", "elpv_root", "read_labels", "KINDS", "PROBABILITIES"]

KINDS = ("mono", "poly")
PROBABILITIES = (0.0, 1 / 3, 2 / 3, 1.0)
PACKAGE = "elpv-dataset"


def elpv_root() -> Path:
    """The data folder of the installed ``elpv-dataset`` (``ImportError`` naming the package if missing)."""
    try:
        import elpv_dataset
    except ImportError as err:
        raise ImportError(f"the ELPV solar cells come from PyPI: pip install {PACKAGE} (data CC BY-NC-SA 4.0)") from err
    return Path(elpv_dataset.__file__).parent / "data"


def read_labels(root: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The cells listed in ``root/labels.csv``: relative paths, probabilities [N], types [N]."""
    path = Path(root) / "labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: not an ELPV data folder")
    files, probs, types = [], [], []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"{path}, line {i}: expected 'path probability type', got {line!r}")
        try:
            p = float(parts[1])
        except ValueError as err:
            raise ValueError(f"{path}, line {i}: probability {parts[1]!r} is not a number") from err
        if not any(abs(p - q) < 1e-3 for q in PROBABILITIES) or parts[2] not in KINDS:
            raise ValueError(
                f"{path}, line {i}: probability must be one of 0, 1/3, 2/3, 1 and the "
                f"type one of {KINDS}, got {parts[1]} {parts[2]!r}"
            )
        files.append(parts[0])
        probs.append(p)
        types.append(parts[2])
    if not files:
        raise ValueError(f"{path} lists no cells")
    return files, np.asarray(probs), np.asarray(types)


def _load(root: Path, files, size: int) -> torch.Tensor:
    """The cells as grayscale [N, 1, size, size], read and resized as :func:`.folder.load_folder` reads images."""
    return torch.from_numpy(np.stack([decode(root / f, 1, size) for f in files])).float()


def _split(images: torch.Tensor, labels) -> Split:
    labels = list(labels)
    return Split(
        images,
        torch.as_tensor(labels, dtype=torch.long).reshape(-1),
        ["good" if v == 0 else "defective" for v in labels],
    )


def elpv(
    kind: str = "mono",
    image_size: int | None = None,
    train_fraction: float = 0.6,
    seed: int = 0,
    root: str | Path | None = None,
    n_known: int = 0,
) -> AnomalyDataset:
    """One type's cells as train / val / test splits (see the module docstring); no masks.

    ``n_known`` defective cells (probability 1) become ``anomalies``, the
    known anomalies some methods use; they are in neither val nor test.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    size = check_int(image_size if image_size is not None else budget().image_size, "image_size", minimum=16)
    train_fraction = check_range(train_fraction, "train_fraction", 0.0, 1.0, low_open=True, high_open=True)
    root = Path(root) if root is not None else elpv_root()
    files, probs, types = read_labels(root)
    mine = types == kind
    good = np.flatnonzero(mine & np.isclose(probs, 0.0))
    bad = np.flatnonzero(mine & np.isclose(probs, 1.0))
    unsure = np.flatnonzero(mine & ~np.isclose(probs, 0.0) & ~np.isclose(probs, 1.0))
    n_known = check_int(n_known, "n_known", minimum=0)
    if len(good) < 4 or len(bad) < 2 + n_known:
        raise ValueError(
            f"ELPV {kind}: {len(good)} defect-free and {len(bad)} defective cells; need at "
            f"least 4 and {2 + n_known} to split (n_known={n_known})"
        )
    rng = as_rng(seed)
    good, bad = rng.permutation(good), rng.permutation(bad)
    known, bad = bad[:n_known], bad[n_known:]
    n_train = min(len(good) - 2, max(1, int(round(train_fraction * len(good)))))
    rest = good[n_train:]
    g_val, g_test = rest[: len(rest) // 2], rest[len(rest) // 2 :]
    b_val, b_test = bad[: len(bad) // 2], bad[len(bad) // 2 :]
    order = np.concatenate([good[:n_train], g_val, b_val, g_test, b_test, unsure, known])
    x = _load(root, [files[i] for i in order], size)
    cut = np.cumsum([n_train, len(g_val), len(b_val), len(g_test), len(b_test), len(unsure)])
    train = _split(x[: cut[0]], [0] * n_train)
    val = _split(x[cut[0] : cut[2]], [0] * len(g_val) + [1] * len(b_val))
    test = _split(x[cut[2] : cut[4]], [0] * len(g_test) + [1] * len(b_test))
    anomalies = _split(x[cut[5] :], [1] * n_known)
    info = {
        "source": f"{PACKAGE} (CC BY-NC-SA 4.0)",
        "kind": kind,
        "seed": seed,
        "cells": {
            "train": order[: cut[0]].tolist(),
            "val": order[cut[0] : cut[2]].tolist(),
            "test": order[cut[2] : cut[4]].tolist(),
            "uncertain": unsure.tolist(),
            "anomalies": known.tolist(),
        },
        "uncertain": {"images": x[cut[4] : cut[5]], "probability": torch.as_tensor(probs[unsure]).float()},
    }
    return AnomalyDataset(f"elpv/{kind}", train, anomalies, val, test, info=info)


def write_elpv(
    out: str | Path,
    kind: str = "mono",
    seed: int = 0,
    image_size: int = 300,
    root: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one type's cells in the MVTec AD layout, for ``anotutor run/compare`` (no ``ground_truth/``).

    ``train/good`` holds :func:`elpv`'s training cells; ``test/good`` and
    ``test/defective`` hold its validation and test cells (the command line
    carves its own validation split from them). The uncertain cells are not
    written. ``image_size`` 300 keeps the cells as the package stores them.
    """
    from .writer import save_folder

    ds = elpv(kind, image_size=image_size, seed=seed, root=root)
    test = Split(
        torch.cat([ds.val.images, ds.test.images]),
        torch.cat([ds.val.labels, ds.test.labels]),
        ds.val.kinds + ds.test.kinds,
    )
    return save_folder(out, ds.train, test, overwrite=overwrite)
