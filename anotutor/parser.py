"""The ``anotutor`` command's arguments: one parser, its subcommands and their options (see :mod:`.cli`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["build_parser", "copy_argument"]


# ---------------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    ap = argparse.ArgumentParser(
        prog="anotutor",
        description="Visual anomaly detectors of the anotutor book, on a folder in the MVTec AD layout.",
    )
    ap.add_argument("--version", action="version", version=f"anotutor {__version__}")
    # -q / -v on every subcommand (SUPPRESS: an option not given leaves the top level's default)
    talk = argparse.ArgumentParser(add_help=False)
    said = talk.add_mutually_exclusive_group()
    said.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=logging.WARNING,
        default=argparse.SUPPRESS,
        help="only warnings and errors on stderr",
    )
    said.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=logging.DEBUG,
        default=argparse.SUPPRESS,
        help="also the details of each step",
    )
    ap.set_defaults(verbosity=logging.INFO)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{methods,run,compare,fit,predict,export,elpv}")

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[talk], **kw)

    command("methods", help="list the detectors and their defaults")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("folder", type=Path, help="a folder in the MVTec AD layout")
        p.add_argument(
            "--image-size",
            type=int,
            default=None,
            help="working size in pixels (default: the budget's, 64 on a CPU, 128 on a GPU)",
        )
        p.add_argument("--steps", type=int, default=None, help="training steps (default: each method's own)")
        p.add_argument("--seed", type=int, default=0, help="seed of the training and of the splits")
        p.add_argument(
            "--known",
            type=int,
            default=0,
            help="defective images given to the methods that use known anomalies (default 0)",
        )
        p.add_argument(
            "--val-fraction", type=float, default=0.25, help="share of each test kind used to choose tau (default 0.25)"
        )
        p.add_argument("--max-train", type=int, default=None, help="use at most this many training images")
        p.add_argument(
            "--channels",
            type=int,
            choices=(1, 3),
            default=None,
            help="1 grayscale, 3 colour (default: colour when the first training image has colour)",
        )
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: the best there is)")
        p.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<folder>-<what>)")
        p.add_argument("--overwrite", action="store_true", help="replace an output folder that holds results")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")

    run = command("run", help="fit and score one method")
    common(run)
    run.add_argument("--method", required=True, help="a detector name (see: anotutor methods)")
    cmp_ = command("compare", help="fit and score several methods, one table")
    common(cmp_)
    cmp_.add_argument("--methods", default="all", help="'all' or comma-separated names (default: all)")
    fit = command("fit", help="train one method on train/good, choose tau, keep the model")
    fit.add_argument("folder", type=Path, help="a folder with train/good (test/<kind> optional)")
    fit.add_argument("--method", required=True, help="a detector name (see: anotutor methods)")
    fit.add_argument("--out", type=Path, required=True, help="the model folder to write")
    fit.add_argument(
        "--fpr",
        type=float,
        default=None,
        help="without defects (or masks): the share of held-out normal images (pixels) allowed over tau (default 0.01)",
    )
    for flag in (
        "--image-size",
        "--steps",
        "--seed",
        "--val-fraction",
        "--max-train",
        "--channels",
        "--device",
        "--overwrite",
        "--no-progress",
    ):
        copy_argument(run, fit, flag)
    fit.add_argument(
        "--tile",
        type=int,
        default=None,
        help="for large images: train and score on tiles of this many pixels of the files' own resolution, "
        "each at the working size (default: whole images)",
    )
    fit.add_argument("--overlap", type=int, default=32, help="pixels shared by neighbouring tiles (default 32)")
    pred = command("predict", help="score image files or folders with a model folder of anotutor fit")
    pred.add_argument("model", type=Path, help="a model folder written by anotutor fit")
    pred.add_argument("inputs", type=Path, nargs="+", help="image files or folders (searched recursively)")
    pred.add_argument("--out", type=Path, required=True, help="the folder to write scores.csv and overlays/ to")
    pred.add_argument("--batch-size", type=int, default=16, help="images scored at once (default 16)")
    pred.add_argument("--overwrite", action="store_true", help="replace an output folder that holds results")
    pred.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run into --out: files already in its scores.csv or errors.csv are skipped "
        "(the same model only)",
    )
    pred.add_argument(
        "--overlays",
        choices=("none", "flagged", "all"),
        default="flagged",
        help="which images get an overlay PNG (default flagged: those at or over the image threshold)",
    )
    pred.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that decode images (default: 1 where a core is free of the scoring, else 0)",
    )
    pred.add_argument("--no-progress", action="store_true", help="no progress bar")
    exp = command(
        "export",
        help="write a model folder's inference as ONNX (feature memories, auto-encoder, PNUNet), checked in "
        "onnxruntime",
    )
    exp.add_argument("model", type=Path, help="a model folder written by anotutor fit")
    exp.add_argument("--out", type=Path, required=True, help="the folder to write model.onnx and export.json to")
    exp.add_argument("--format", choices=("onnx",), default="onnx", help="the file format (default onnx)")
    exp.add_argument("--batch-size", type=int, default=1, help="images per call of the exported file (default 1)")
    exp.add_argument("--overwrite", action="store_true", help="replace an output folder that holds files")
    cells = command(
        "elpv",
        help="write the ELPV solar cells (pip install elpv-dataset; data CC BY-NC-SA "
        "4.0) in the MVTec AD layout, without masks",
    )
    cells.add_argument("--out", type=Path, required=True, help="the folder to write")
    cells.add_argument("--kind", choices=("mono", "poly"), default="mono", help="cell type (default mono)")
    cells.add_argument("--seed", type=int, default=0, help="seed of the split into train and test")
    cells.add_argument("--image-size", type=int, default=300, help="pixels (default 300, the cells' own)")
    cells.add_argument("--overwrite", action="store_true", help="replace a folder that holds a data set")
    cells.add_argument(
        "--root",
        type=Path,
        default=None,
        help="cells in the package's layout, labels.csv beside images/ (default: the installed package)",
    )
    return ap


def copy_argument(src: argparse.ArgumentParser, dst: argparse.ArgumentParser, flag: str) -> None:
    """Give ``dst`` the option ``flag`` of ``src``, with its type, default and help."""
    action = next(a for a in src._actions if flag in a.option_strings)
    kw = {"default": action.default, "help": action.help}
    if action.nargs == 0:
        kw["action"] = "store_true"
    else:
        kw.update(type=action.type, choices=action.choices)
    dst.add_argument(flag, **kw)
