"""Fit once, keep the model, score new images: what ``anotutor fit`` and ``anotutor predict`` do.

:func:`fit_folder` trains one method on a folder's ``train/good`` images,
chooses its thresholds by the rule the folder allows
(:mod:`anotutor.methods.thresholds`: validation defects with masks, without
masks, or none at all, then a share of the normal images is held out and
tau set at a false-alarm rate) and writes a *model folder*:

* ``model.pt``: the checkpoint, thresholds included (``threshold_``);
* ``model.json``: the method, the working size, the channel mode, the
  thresholds and the rule that chose them, and the provenance (package and
  torch versions, seed, the training data's hash, fit seconds, peak memory).

:func:`predict_files` loads a model folder, scores image files of any size
and format Pillow reads (each scored at the working size, as in training,
its map brought back to the file's own size) and writes ``scores.csv`` (file,
score, verdict at the image threshold, share of pixels at or over tau) and
``overlays/`` at each image's own size, every map on the one scale of the
model (0 to twice its pixel tau, stated in ``model.json``), so a normal image
does not look alarming by being stretched to its own maximum.

Both write into a hidden folder beside the output and rename it at the end:
an error or Ctrl-C leaves nothing half-written.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from .log import LOG

__all__ = [
    "fit_folder",
    "prepare_fit",
    "train_and_write",
    "predict_files",
    "prepare_predict",
    "write_predictions",
    "model_identity",
    "OVERLAYS",
    "read_model",
    "staged",
    "MODEL_FILE",
    "INFO_FILE",
]

MODEL_FILE, INFO_FILE = "model.pt", "model.json"
NORMAL_HOLDOUT = 0.2  # share of train/good kept out of training to set tau when the folder has no defects
MIN_HOLDOUT = 4  # ... and at least this many images


@contextmanager
def staged(out: Path):
    """A hidden folder beside ``out`` to write into; it becomes ``out`` only when the block succeeds."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


ENLARGE_WARN = 2.0  # a working size more than this many times the images' own size is said, not hidden


def size_note(title: str, size: int, source: int) -> str | None:
    """A warning when ``title`` works at ``size`` px on images whose shorter side is ``source`` px and
    that means enlarging them more than :data:`ENLARGE_WARN` times; None otherwise."""
    if source and size > ENLARGE_WARN * source:
        return (
            f"{title} works at {size} px and the images are {source} px (median shorter side): enlarged "
            f"{size / source:.1f}x, the detector judges detail the files do not hold"
        )
    return None


def _peak_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024.0 * 1024.0) if sys.platform == "darwin" else kb / 1024.0


def fit_folder(folder, method: str, out, **kwargs) -> dict:
    """Train ``method`` on ``folder``, choose its thresholds, write the model folder ``out``; return its info.

    ``kwargs``: those of :func:`prepare_fit`. Every check of the input runs
    before training starts (:func:`prepare_fit`), so a ValueError there is
    the caller's input and one later is a fault.
    """
    return train_and_write(prepare_fit(folder, method, **kwargs), out)


def prepare_fit(
    folder,
    method: str,
    image_size: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    channels: int | None = None,
    fpr: float | None = None,
    val_fraction: float = 0.25,
    max_train: int | None = None,
    device: str | None = None,
    progress: bool = True,
    tile: int | None = None,
    overlap: int = 0,
) -> dict:
    """Read and check everything a fit needs, training nothing: the detector, its training images and
    the held-out images its thresholds are chosen on.

    ``tile``: train on tiles of ``tile`` px (overlapping by ``overlap``) cut from the files at their own
    resolution, each at the working size, and score held-out (and later new) images tile by tile
    (:mod:`anotutor.data.tiles`): for large images whose defects a whole-image working size would lose.

    A folder with ``test/<defect kind>`` folders gives a validation split
    (``val_fraction`` of each kind, as ``anotutor run``) and the F1 rules; a
    folder with ``train/good`` alone holds out a share of the normal images
    (:data:`NORMAL_HOLDOUT`, at least :data:`MIN_HOLDOUT`) and sets tau at the
    false-alarm rate ``fpr`` (default :data:`~anotutor.methods.thresholds.DEFAULT_FPR`).
    """
    from .catalog import METHODS, resolve
    from .checks import check_range
    from .data.folder import load_folder, load_normals, source_px
    from .data.splits import Split
    from .methods.thresholds import DEFAULT_FPR
    from .runtime import as_rng

    name = resolve([method])[0]
    m = METHODS[name]
    folder = Path(folder)
    image_size = m.working_size(image_size)  # its own size (224 for the feature memories), not the budget's
    fpr = check_range(DEFAULT_FPR if fpr is None else fpr, "fpr", 0.0, 1.0, high_open=True)
    if m.needs_anomalies:
        raise ValueError(f"{name} needs known anomalies; fit takes the methods that learn from normal images")
    has_defects = (folder / "test").is_dir() and any(
        p.is_dir() and p.name != "good" for p in (folder / "test").iterdir()
    )
    if has_defects:
        ds = load_folder(
            folder, image_size=image_size, channels=channels, val_fraction=val_fraction, max_train=max_train, seed=seed
        )
        train, held_out, c, files = ds.train.images, ds.val, ds.info["channels"], ds.info["files"]["train"]
        size, source, held_files = ds.info["image_size"], ds.info["source_px"], ds.info["files"]["val"]
        if len(held_out) == 0:
            raise ValueError(f"--val-fraction {val_fraction} leaves no validation image to choose tau on")
    else:
        images, files, c = load_normals(folder, image_size, channels, max_train, seed)
        source = source_px([folder / f for f in files])
        n_out = max(MIN_HOLDOUT, int(round(NORMAL_HOLDOUT * len(images))))
        if len(images) - n_out < 2:
            raise ValueError(
                f"{folder} has {len(images)} normal images and no defects; holding out "
                f"{n_out} to set tau leaves fewer than 2 to train on. Add normal images."
            )
        order = as_rng(seed).permutation(len(images))
        keep, hold = sorted(order[n_out:].tolist()), sorted(order[:n_out].tolist())
        train, size = images[keep], images.shape[-1]
        held_files = [files[i] for i in hold]
        files = [files[i] for i in keep]
        held_out = Split(images[hold], torch.zeros(len(hold), dtype=torch.long), ["good"] * len(hold))
    det = m.make(image_size=size, steps=steps, seed=seed, device=device, progress=progress)
    tiling = None
    if tile is not None:
        from .data.images import read_image
        from .data.tiles import check_tiling, cut_tiles

        tile, overlap = check_tiling(tile, overlap)
        tiling = {"tile": tile, "overlap": overlap}
        train = torch.cat([cut_tiles(read_image(folder / f, c), tile, overlap, size)[0] for f in files])
        source = tile
    note = size_note(m.title, size, source)
    if note:
        LOG.warning(note)
    return {
        "source_px": source,
        "size_note": note,
        "name": name,
        "title": m.title,
        "det": det,
        "train": train,
        "held_out": held_out,
        "channels": c,
        "size": size,
        "files": files,
        "held_files": [folder / f for f in held_files],
        "tiling": tiling,
        "fpr": fpr,
        "seed": seed,
        "folder": folder,
    }


def train_and_write(plan: dict, out) -> dict:
    """Fit the detector of :func:`prepare_fit`'s ``plan``, choose its thresholds and write ``out``."""
    from .methods.thresholds import choose
    from .outputs import map_scale
    from .pretrained import data_hash
    from .results import provenance

    det, train, held_out = plan["det"], plan["train"], plan["held_out"]
    t0 = time.perf_counter()
    det.fit(train)
    fit_seconds = time.perf_counter() - t0
    seen = det.predict(held_out.images) if plan["tiling"] is None else _tiled_detection(det, plan)
    det.threshold_ = choose(seen, held_out, plan["fpr"])
    scale = map_scale(det.threshold_.pixel, seen.maps)
    info = {
        "method": plan["name"],
        "title": plan["title"],
        "class": type(det).__name__,
        "image_size": plan["size"],
        "tiling": plan["tiling"],
        "source_px": plan["source_px"],
        "size_note": plan["size_note"],
        "channels": plan["channels"],
        "thresholds": det.threshold_.to_dict(),
        "rule": det.threshold_.describe(),
        "map_scale": scale,
        "provenance": {
            **provenance(fit_seconds, clock=True),
            "seed": plan["seed"],
            "data_hash": data_hash(train),
            "n_train": len(train),
            "train_files": plan["files"],
            "folder": str(Path(plan["folder"]).resolve()),
            "fit_seconds": round(fit_seconds, 2),
            "peak_mb": round(_peak_mb(), 1),
            "device": str(det.device_),
        },
    }
    with staged(Path(out)) as stage:
        det.save(stage / MODEL_FILE)
        (stage / INFO_FILE).write_text(json.dumps(info, indent=1))
    return info


def _tiled_detection(det, plan: dict):
    """The held-out images scored tile by tile, their stitched maps brought to the working size of the
    held-out split (its masks' size), for choosing thresholds on."""
    import torch.nn.functional as F

    from .methods.base import Detection

    s = plan["held_out"].images.shape[-1]
    found = list(det.score_files(plan["held_files"], **plan["tiling"]))
    maps = [
        F.interpolate(f.map[None, None], size=(s, s), mode="bilinear", align_corners=False, antialias=True)[0, 0]
        for f in found
    ]
    return Detection(torch.tensor([f.score for f in found]), torch.stack(maps).clamp_min(0), 0.0)


def read_model(model_dir):
    """``(detector, info)`` from a model folder written by :func:`fit_folder`; a ValueError says what is wrong."""
    from .methods.base import Detector
    from .methods.thresholds import Thresholds

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"{model_dir} is not a model folder (anotutor fit writes one)")
    info_path, ckpt_path = model_dir / INFO_FILE, model_dir / MODEL_FILE
    if not info_path.is_file() or not ckpt_path.is_file():
        raise ValueError(f"{model_dir} lacks {INFO_FILE} or {MODEL_FILE}: not a model folder of anotutor fit")
    try:
        info = json.loads(info_path.read_text())
        Thresholds.from_dict(info["thresholds"])
        int(info["image_size"])  # present and numeric
        channels = int(info["channels"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{info_path} is not a model description of anotutor fit ({err})") from err
    det = Detector.from_checkpoint(ckpt_path)
    if type(det).__name__ != info.get("class") or det.threshold_ is None:
        raise ValueError(
            f"{ckpt_path} does not match {info_path} (another model's file, or one without "
            "thresholds); fit the model again"
        )
    if channels not in (1, 3):
        raise ValueError(f"{info_path} names {channels} channels; a model has 1 or 3")
    det.tiling_ = info.get("tiling")  # score_files tiles new images as the model was fitted
    return det, info


def predict_files(model_dir, inputs, out, batch_size: int = 16, progress: bool = True, **kw) -> dict:
    """Score the image files of ``inputs`` (files or folders) with the model folder ``model_dir`` into
    ``out``; return :func:`write_predictions`'s summary (``kw``: its options)."""
    return write_predictions(prepare_predict(model_dir, inputs), out, batch_size, progress, **kw)


def prepare_predict(model_dir, inputs, resume=None) -> dict:
    """Read and check the model folder and list the image files, scoring nothing (a ValueError here is
    the caller's input). ``resume``: an output folder of an interrupted run of this model, whose
    scored (and unreadable) files are skipped."""
    from .data.images import image_files

    det, info = read_model(model_dir)
    identity = model_identity(model_dir)
    done = set() if resume is None else _done_files(Path(resume), identity)
    files = image_files(*inputs)
    return {"det": det, "info": info, "files": files, "model_dir": model_dir, "identity": identity, "done": done}


OVERLAYS = ("none", "flagged", "all")
RUN_FILE = "run.json"


def model_identity(model_dir) -> dict:
    """What ties an output folder to the model that wrote it: the model folder and its checkpoint's hash."""
    from .data.mvtec import sha256sum

    model_dir = Path(model_dir).resolve()
    return {"model": str(model_dir), "checkpoint_sha256": sha256sum(model_dir / MODEL_FILE)}


def default_workers(device) -> int:
    """Decoding processes for ``predict``: one where it has a core of its own (a GPU scores, or the CPU
    has more cores than torch's threads); none where the scoring already uses every core, since a
    worker would only take cycles from it (``benchmarks/predict_scale.py`` measures both)."""
    import torch

    spare = (os.cpu_count() or 1) > torch.get_num_threads()
    return 1 if torch.device(device).type != "cpu" or spare else 0


def _done_files(out: Path, identity: dict) -> set[str]:
    """The files a previous run into ``out`` scored (or failed on), after checking it used this model."""
    run = out / RUN_FILE
    if not run.is_file():
        raise ValueError(f"--resume: {out} holds no {RUN_FILE}; it is not an output folder of anotutor predict")
    try:
        before = json.loads(run.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"--resume: {run} is not readable ({err})") from err
    if before.get("checkpoint_sha256") != identity["checkpoint_sha256"]:
        raise ValueError(
            f"--resume: {out} was scored by another model ({before.get('model')}); "
            "choose another --out, or --overwrite to start again"
        )
    done: set[str] = set()
    for name in ("scores.csv", "errors.csv"):
        if (out / name).is_file():
            with open(out / name, newline="") as fh:
                done |= {row["file"] for row in csv.DictReader(fh) if row.get("file")}
    return done


def _appender(path: Path, columns: list[str]):
    """A csv writer that appends to ``path`` (the header first when it is new) and flushes every row."""
    new = not path.is_file() or path.stat().st_size == 0
    fh = open(path, "a", newline="")  # noqa: SIM115 - closed by the caller
    w = csv.DictWriter(fh, fieldnames=columns)
    if new:
        w.writeheader()

    def write(row: dict) -> None:
        w.writerow(row)
        fh.flush()

    return write, fh


def write_predictions(
    plan: dict,
    out,
    batch_size: int = 16,
    progress: bool = True,
    overlays: str = "flagged",
    workers: int | None = None,
) -> dict:
    """Score the files of :func:`prepare_predict`'s ``plan`` into ``out``, streaming; return a summary.

    Each row of ``scores.csv`` is appended and flushed as its image is scored,
    so an interrupted run keeps what it scored, and a plan prepared with
    ``resume`` skips the files already in it (after checking, in ``run.json``,
    that the same model wrote them). A file that cannot be read goes to ``errors.csv`` with its reason
    and the run goes on. ``overlays``: which images get an overlay PNG
    (:data:`OVERLAYS`; ``"flagged"``: those at or over the image threshold),
    written by a thread pool. ``workers``: decoding processes (default:
    :func:`default_workers`). Returns ``{"scored", "flagged",
    "failed", "skipped"}`` counts of this run.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .checks import check_int
    from .log import LOG
    from .outputs import ERROR_COLUMNS, SCORE_COLUMNS
    from .runtime import progress as bar

    batch_size = check_int(batch_size, "batch_size")
    if overlays not in OVERLAYS:
        raise ValueError(f"overlays must be one of {OVERLAYS}, got {overlays!r}")
    det, info, files = plan["det"], plan["info"], plan["files"]
    workers = default_workers(det.device_) if workers is None else check_int(workers, "workers", minimum=0)
    out, identity, done = Path(out), plan["identity"], plan["done"]
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps({**identity, "title": info["title"]}, indent=1))
    names = dict(zip(files, _unique_names(files)))
    todo = [f for f in files if str(f) not in done]
    if done:
        LOG.info(f"--resume: {len(files) - len(todo)} of {len(files)} files already in {out}; scoring {len(todo)}")
    write_row, scores_fh = _appender(out / "scores.csv", SCORE_COLUMNS)
    write_error, errors_fh = _appender(out / "errors.csv", ERROR_COLUMNS)
    counts = {"scored": 0, "flagged": 0, "failed": 0, "skipped": len(files) - len(todo)}
    tau = det.threshold_

    def failed(path: Path, reason: str) -> None:
        counts["failed"] += 1
        LOG.warning(f"skipped: {reason}")
        write_error({"file": str(path), "reason": reason})

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = []
            items = det.score_files(todo, batch_size, workers, on_error=failed)
            for found in bar(items, "anotutor predict", progress and len(todo) > batch_size, total=len(todo)):
                write_row(
                    {
                        "file": str(found.path),
                        "score": f"{found.score:.6g}",
                        "verdict": found.verdict,
                        "share_over_tau": f"{tau.share_over(found.map):.4f}",
                    }
                )
                counts["scored"] += 1
                flagged = found.verdict == "anomalous"
                counts["flagged"] += flagged
                if overlays == "all" or (overlays == "flagged" and flagged):
                    (out / "overlays").mkdir(exist_ok=True)
                    pending.append(
                        pool.submit(_write_overlay, found, info, out / "overlays" / names[found.path], tau.pixel)
                    )
                    pending = _unfinished(pending)
            for p in pending:
                p.result()
    finally:
        scores_fh.close()
        errors_fh.close()
    (out / "README.txt").write_text(
        f"anotutor predict with {identity['model']} ({info['title']}).\n"
        f"scores.csv: one row per image as it was scored (verdict at the image threshold; share_over_tau: "
        f"the share of pixels at or over tau). errors.csv: files that could not be read, and why.\n"
        f"Thresholds: {tau.describe()}.\nOverlays ({overlays}): each image at its own size beside its map "
        f"on the model's one scale, 0 to {info['map_scale']:.4g} (twice the pixel tau); pixels at or over "
        f"tau outlined in cyan.\n"
    )
    return counts


def _unfinished(futures: list) -> list:
    """The futures still running; a finished one's error is raised here, not lost."""
    for f in futures:
        if f.done():
            f.result()
    return [f for f in futures if not f.done()]


def _write_overlay(found, info: dict, target: Path, tau: float) -> Path:
    from PIL import Image

    from .data.images import read_image
    from .viz import overlay_pixels

    image = read_image(found.path, int(info["channels"]))
    Image.fromarray(overlay_pixels(image, found.map, None, scale=info["map_scale"], tau=tau)).save(target)
    return target


def _unique_names(files: list[Path]) -> list[str]:
    """An overlay file name per input: its stem, with its position added where a stem repeats."""
    out, seen = [], set()
    for i, p in enumerate(files):
        name = p.stem if p.stem not in seen else f"{p.stem}_{i}"
        seen.add(name)
        out.append(f"{name}.png")
    return out
