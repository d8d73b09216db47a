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
    report, deploy, cli,         the anotutor command: run, compare, fit, predict (cli),
    parser, outputs              its arguments (parser) and the files it writes (outputs)
"""

__version__ = "0.1.0"

from . import checks, metrics, runtime  # noqa: E402

__all__ = ["checks", "metrics", "runtime", "__version__"]
