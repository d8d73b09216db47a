"""The MVTec AD data set: its categories and its official archive, downloaded, checked and extracted.

:func:`download_mvtec` fetches the archive (5.3 GB, all 15 categories) once,
checks its SHA-256 (:func:`sha256sum`) and extracts only what it needs,
refusing any member that would land outside the target folder. Where the
machine has no network, place the files by hand in the layout of
:mod:`.folder`.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["download_mvtec", "MVTEC_CATEGORIES", "MVTEC_ARCHIVE", "sha256sum"]


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
