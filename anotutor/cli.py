"""The ``anotutor`` command: the book's detectors on a folder of your own images.

    anotutor methods
    anotutor run DIR --method pnunet [--image-size 64] [--steps N] [--seed 0] [--out OUT]
    anotutor compare DIR --methods all [--out OUT]
    anotutor fit DIR --method pnunet --out MODEL [--fpr 0.01]   # train once, keep the model and its tau
    anotutor predict MODEL IMAGES_OR_FOLDERS... --out OUT       # score new, unlabelled images
    anotutor elpv --out DIR [--kind mono|poly] [--seed 0]   # real solar cells, in the layout below

``DIR`` is a folder in the MVTec AD layout (:mod:`anotutor.data.folder`):
``train/good``, ``test/<kind>``, ``ground_truth/<kind>``. Each method is fitted
on ``train/good`` (and on ``--known N`` defective images, for the methods
that use them), tau is chosen on a validation split carved from the test
kinds (stratified; ``--val-fraction``), and the rest of the test images are
scored. ``OUT`` receives:

* ``metrics.md`` and ``metrics.json``: image AUROC, image F1 at the image
  threshold chosen on validation (and its confusion counts in the JSON),
  pixel AUROC, AUPRO, pixel F1 at tau, fit seconds, ms per image, parameters
  (and why a method could not run). A folder without ``ground_truth/`` gets
  the image metrics only, and "no masks" in the pixel columns;
* per method (the folder ``OUT`` itself for ``run``, ``OUT/<method>`` for
  ``compare``): ``scores.csv`` (one line per test image, with its verdict at
  the image threshold), ``overlays/`` (each
  test image beside its map: truth outlined in red, pixels at or above tau
  in cyan) and ``model.pt`` (the checkpoint, loadable with
  ``Estimator.from_checkpoint``);
* for ``compare``: ``quality_speed.png``;
* ``index.html`` (:mod:`anotutor.report`): one offline page with the table,
  ROC curves, the quality-speed plot and, per method, the highest-scoring
  normal and lowest-scoring defective test images, maps on one scale per
  method.

``fit`` and ``predict`` (:mod:`anotutor.deploy`) are for a model kept: ``fit``
needs only ``train/good`` (defects under ``test/`` with or without masks are
used to choose tau when present; without any, tau is set at a false-alarm
rate ``--fpr`` on held-out normal images, and the output says which rule
chose it), and ``predict`` scores image files of any size and format,
writing ``scores.csv`` and overlays at each image's own size.

Exit status: 0 done; 2 a usage or input problem (one line says what to
change; nothing was trained or written); 1 an unexpected error while
training or scoring (its traceback is printed; nothing was written); 130
interrupted.

Everything is checked before anything trains (the folder, the methods, the
working size, the device, the output folder), and results are written to a
hidden folder beside ``OUT`` that becomes ``OUT`` only when every method has
finished: a failure or Ctrl-C leaves nothing half-written. An ``OUT`` that
already holds files is refused unless ``--overwrite``.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
import traceback
from pathlib import Path

from .log import LOG, configure
from .outputs import metrics_table, quality_speed_plot, row_text, write_overlays, write_scores
from .parser import build_parser

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2  # a usage or input problem: one line says what to change
EXIT_FAULT = 1  # an unexpected error while training or scoring: the traceback is printed
EXIT_SOME_FAILED = 3  # predict: some files could not be read (listed in errors.csv); the others were scored


class CLIError(Exception):
    """A problem with what was asked: printed as one line, exit status 2 (any other error: status 1
    with its traceback)."""


# ---------------------------------------------------------------------------- commands
def _fit(args) -> int:
    from .deploy import prepare_fit, train_and_write
    from .runtime import device

    _check_out(args.out, args.overwrite)
    try:  # every check of the input before anything trains: an error here is status 2
        device(args.device)
        plan = prepare_fit(
            args.folder,
            args.method,
            args.image_size,
            args.steps,
            args.seed,
            args.channels,
            args.fpr,
            args.val_fraction,
            args.max_train,
            args.device,
            not args.no_progress,
            tile=args.tile,
            overlap=args.overlap if args.tile is not None else 0,
        )
    except (ValueError, FileNotFoundError) as err:
        raise CLIError(str(err)) from err
    info = train_and_write(plan, args.out)
    LOG.info(
        f"{info['title']} trained on {info['provenance']['n_train']} images in "
        f"{info['provenance']['fit_seconds']:.0f} s; {info['rule']}"
    )
    LOG.info(f"model in {args.out}; next: anotutor predict {args.out} IMAGES... --out OUT")
    return 0


def _predict(args) -> int:
    from .deploy import prepare_predict, write_predictions

    if args.resume and args.overwrite:
        raise CLIError("--resume continues a run and --overwrite replaces it: choose one")
    if not args.resume:
        _check_out(args.out, args.overwrite)
    try:  # the model folder and the inputs, checked (and read once) before anything is scored
        plan = prepare_predict(args.model, args.inputs, args.out if args.resume else None)
        if args.batch_size < 1 or (args.workers is not None and args.workers < 0):
            raise ValueError("--batch-size must be at least 1 and --workers at least 0")
        model, out = args.model.resolve(), args.out.resolve()
        if out == model or out in model.parents:
            raise ValueError(f"--out {args.out} holds the model folder {args.model}; choose another --out")
    except ValueError as err:
        raise CLIError(str(err)) from err
    if args.overwrite and args.out.is_dir():
        shutil.rmtree(args.out)  # asked for, and only once everything above has been checked
    try:
        run = write_predictions(
            plan, args.out, args.batch_size, not args.no_progress, overlays=args.overlays, workers=args.workers
        )
    except KeyboardInterrupt:
        LOG.error(f"interrupted; {args.out}/scores.csv keeps every image scored so far: --resume continues")
        return 130
    LOG.info(
        f"{run['scored']} images scored, {run['flagged']} flagged anomalous, {run['failed']} unreadable"
        + (f", {run['skipped']} already done" if run["skipped"] else "")
        + f"; scores.csv in {args.out}"
    )
    if run["failed"]:
        LOG.warning(f"{run['failed']} files could not be read: see {args.out}/errors.csv (exit status 3)")
        return EXIT_SOME_FAILED
    return 0


def _export(args) -> int:
    from .export import export_model

    _check_out(args.out, args.overwrite)
    try:
        done = export_model(args.model, args.out, args.format, args.batch_size)
    except ValueError as err:
        raise CLIError(str(err)) from err
    check = done["check"]
    LOG.info(
        f"{done['title']} written to {args.out}/model.onnx: input images {done['input']['shape']} in [0, 1]; "
        f"onnxruntime matches torch within {max(check['max_score_diff'], check['max_map_diff']):.2g}; "
        "thresholds and the input's recipe in export.json"
    )
    return 0


def _methods() -> str:
    from .catalog import METHODS
    from .runtime import budget

    lines = [f"defaults under the {budget().name!r} budget (ANOTUTOR_BUDGET=ci|full)"]
    for m in METHODS.values():
        d = m.make(progress=False).resolve_params()
        shown = ", ".join(
            f"{k}={v!r}"
            for k, v in d.items()
            if k
            in (
                "image_size",
                "latent_size",
                "loss",
                "width",
                "gamma",
                "masks",
                "pseudo",
                "steps",
                "search_steps",
                "strides",
                "coreset",
                "n_features",
            )
        )
        need = "; needs --known N" if m.needs_anomalies else ""
        if m.own_size:
            need += "; works at its own image_size (the folder is read at it; --image-size is the others')"
        lines.append(f"{m.name:13s} {m.title} (chapter {m.chapter}){need}\n{'':13s} {shown}")
    return "\n".join(lines)


def _elpv(args) -> int:
    from .checks import check_int
    from .data.elpv import write_elpv

    try:
        size = check_int(args.image_size, "--image-size", minimum=16, maximum=2048)
        check_int(args.seed, "--seed", minimum=0)
        root = write_elpv(
            args.out, kind=args.kind, seed=args.seed, image_size=size, overwrite=args.overwrite, root=args.root
        )
    except (ImportError, FileExistsError, FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from err
    n = {k: len(list((root / k).glob("*/*"))) for k in ("train", "test")}
    LOG.info(
        f"{n['train']} defect-free training cells and {n['test']} test cells ({args.kind}) in {root};"
        f" next: anotutor compare {root} --methods all (image metrics only: the cells have no masks)"
    )
    return 0


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CLIError(
            f"output folder {out} already holds files; pass --overwrite to replace it, or choose another --out"
        )


def _load(args, size: int | None = None):
    """The folder at ``size`` px (default: ``--image-size`` or the budget's), checked; and that size."""
    from .checks import check_int
    from .data.folder import load_folder
    from .runtime import budget, device

    try:
        device(args.device)
        if size is None:
            size = args.image_size if args.image_size is not None else budget().image_size
        size = check_int(size, "--image-size", minimum=16, maximum=2048)
        if args.steps is not None:
            check_int(args.steps, "--steps", minimum=1)
        check_int(args.seed, "--seed", minimum=0)
        ds = load_folder(
            args.folder,
            image_size=size,
            channels=args.channels,
            val_fraction=args.val_fraction,
            n_known=args.known,
            max_train=args.max_train,
            seed=args.seed,
        )
    except (ValueError, FileNotFoundError) as err:
        raise CLIError(str(err)) from err
    if len(ds.val) == 0 or len(set(ds.val.labels.tolist())) < 2:
        raise CLIError(
            f"the validation split ({len(ds.val)} images, --val-fraction {args.val_fraction}) "
            "needs normal and defective images to choose tau; raise --val-fraction or add test images"
        )
    if len(set(ds.test.labels.tolist())) < 2:
        raise CLIError(
            "the test images left after validation are all normal or all defective; "
            "add test images of both or lower --val-fraction"
        )
    return ds, size


def _meta(args, ds, size, methods, seconds) -> dict:
    from .results import provenance
    from .runtime import budget, device

    return {
        **provenance(seconds, clock=True),
        "device": str(device(args.device)),
        "folder": str(Path(args.folder).resolve()),
        "image_size": size,
        "channels": ds.info["channels"],
        "steps": args.steps,
        "seed": args.seed,
        "known": args.known,
        "budget": budget().name,
        "methods": methods,
        "counts": {k: getattr(ds, k).counts() for k in ("train", "anomalies", "val", "test")},
    }


def _run(args, methods: list[str], flat: bool) -> Path:
    from .catalog import METHODS
    from .compare import plan, run_method
    from .deploy import size_note, staged
    from .methods.thresholds import Thresholds
    from .report import write_report

    folder_name = Path(args.folder).resolve().name or "data"
    out = args.out or Path("runs") / f"{folder_name}-{methods[0] if flat else 'compare'}"
    _check_out(out, args.overwrite)
    ds, size = _load(args)
    try:
        reasons = plan(methods, ds.anomalies, size, args.steps, args.seed, args.device)
    except ValueError as err:
        raise CLIError(str(err)) from err
    if flat and reasons[methods[0]]:
        raise CLIError(f"{methods[0]} cannot run: {reasons[methods[0]]}")
    if not flat and all(reasons.values()):
        raise CLIError("no method can run: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    for name, why in reasons.items():
        if why:
            LOG.warning(f"{name} will be skipped: {why}")
    # each method at its own working size (the feature memories at 224 px): the folder is read once per size
    sizes = {name: METHODS[name].working_size(size) if reasons[name] is None else size for name in methods}
    data = {size: ds}
    notes = []
    for name in methods:
        if sizes[name] not in data:
            data[sizes[name]] = _load(args, sizes[name])[0]
        note = size_note(METHODS[name].title, sizes[name], ds.info["source_px"]) if reasons[name] is None else None
        if note:
            LOG.warning(note)
            notes.append(note)

    t0 = time.perf_counter()
    with staged(out) as stage:
        outcomes = []
        for name in methods:
            here = data[sizes[name]]
            if reasons[name] is None:
                LOG.info(
                    f"{name} on {folder_name} ({len(here.train)} training images, {len(here.test)} test images, "
                    f"{sizes[name]} px)"
                )
            o = run_method(
                name,
                here,
                image_size=sizes[name],
                steps=args.steps,
                seed=args.seed,
                device=args.device,
                progress=not args.no_progress,
            )
            outcomes.append(o)
            if o.row is None or o.detection is None or o.detector is None:  # skipped (o.skipped says why)
                continue
            o.row["image_size"] = sizes[name]
            where = stage if flat else stage / name
            where.mkdir(exist_ok=True)
            write_scores(where / "scores.csv", here.info["files"]["test"], here.test, o.detection, o.row)
            write_overlays(where / "overlays", here.info["files"]["test"], here.test, o.detection, o.row["tau"])
            if o.row["tau"] is not None and o.row.get("image_tau") is not None:  # the model keeps its tau
                o.detector.threshold_ = Thresholds(
                    o.row["tau"],
                    o.row["image_tau"],
                    "f1-masks",
                    None,
                    int((here.val.labels == 0).sum()),
                    int(here.val.labels.sum()),
                )
            o.detector.save(where / "model.pt")
            LOG.info(f"{name}: " + ", ".join(f"{k} {v}" for k, v in row_text(o.row).items()))
        meta = _meta(args, ds, size, methods, time.perf_counter() - t0)
        masks_note = (
            ""
            if ds.test.masks is not None
            else " The test images have no pixel masks "
            "(no ground_truth/ folder): image metrics only; image F1 at the threshold chosen on "
            "validation."
        )
        masks_note += (
            f" Each method works at its own size (px column); the images are {ds.info['source_px']} px "
            "(median shorter side)." + "".join(f" Warning: {n}." for n in notes)
        )
        rows = [o.row if o.ran else {"method": o.method, "name": o.title, "skipped": o.skipped} for o in outcomes]
        (stage / "metrics.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        (stage / "metrics.md").write_text(
            f"# anotutor on {folder_name}\n\n{meta['date']}, {meta['machine']}, {meta['device']}, "
            f"{meta['threads']} threads, anotutor {meta['anotutor']}. {meta['channels']} channel(s), "
            f"seed {args.seed}; thresholds chosen on {len(ds.val)} validation images, scores on {len(ds.test)} "
            f"test images.{masks_note}\n\n{metrics_table(outcomes)}\n"
        )
        if not flat:
            quality_speed_plot(stage / "quality_speed.png", outcomes)
        write_report(
            stage,
            outcomes,
            ds.test,
            ds.info["files"]["test"],
            f"anotutor on {folder_name}",
            metrics_table(outcomes),
            f"{meta['date']}, seed {args.seed}; thresholds chosen on "
            f"{len(ds.val)} validation images, scores on {len(ds.test)} test images.{masks_note}",
            None if flat else "quality_speed.png",
        )
    print(metrics_table(outcomes))
    LOG.info(f"results in {out} ({time.perf_counter() - t0:.0f} s)")
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    configure(getattr(args, "verbosity", logging.INFO))
    try:
        if args.command == "methods":
            print(_methods())
            return 0
        if args.command == "elpv":
            return _elpv(args)
        if args.command == "fit":
            return _fit(args)
        if args.command == "predict":
            return _predict(args)
        if args.command == "export":
            return _export(args)
        from .catalog import resolve

        try:
            methods = resolve(args.method if args.command == "run" else args.methods)
        except ValueError as err:
            raise CLIError(str(err)) from err
        if args.command == "run" and len(methods) != 1:
            raise CLIError("run takes one --method; use compare for several")
        _run(args, methods, flat=args.command == "run")
        return 0
    except CLIError as err:
        LOG.error(f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        LOG.error("interrupted; nothing was written")
        return 130
    except Exception:  # a fault during training or scoring, not in what was asked: show where
        traceback.print_exc()
        LOG.error("unexpected error (above); nothing was written. Please report it with the command line.")
        return EXIT_FAULT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
