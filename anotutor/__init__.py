"""anotutor: the companion package of the book *Visual anomaly detection,
from reconstruction to feature memories*.

Layers, from the ground up (a module imports only from layers below it)::

    runtime, checks, ops, viz,   device, seeds, budget; input validation; generic tensor
    log                          operations (Gaussian blur, uniform noise, parameter
                                 count); drawing (viz draws arrays, knows nothing above);
                                 the package's logger (the command line shows it)
    data, metrics, losses,       know nothing of models or methods; results holds the
    theory, results              committed benchmark numbers and their intervals
    models                       plain nn.Modules
    methods                      training, inference, evaluation, thresholds
    widgets, pretrained,         sliders; the shipped checkpoints and their recipes;
    contamination, catalog,      the AnoGAN chapter's experiment on the shipped runs; the
    compare, protocol            book's methods by name with their chapters' settings, one
                                 method run on a data set, the experiments' constants
    report, deploy, export,      the anotutor command: run, compare, fit, predict, export
    cli, parser, outputs         (cli), its arguments (parser) and the files it writes
                                 (outputs); load() reads a model folder (deploy)
"""

__version__ = "0.1.0"

from . import checks, metrics, runtime  # noqa: E402

__all__ = ["checks", "metrics", "runtime", "load", "__version__"]


def load(model_dir):
    """The fitted detector of a model folder written by ``anotutor fit``, its thresholds in ``threshold_``::

        import anotutor
        det = anotutor.load("model")
        for path, score, verdict, anomaly_map in det.score_files(["part1.png", "part2.png"]):
            print(path, score, verdict)

    A ValueError says what is wrong with the folder (:func:`anotutor.deploy.read_model`).
    """
    from .deploy import read_model

    return read_model(model_dir)[0]
