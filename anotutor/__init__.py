"""anotutor: the companion package of the book *Visual anomaly detection,
from AnoGAN to two-stage segmentation*.

Layers, from the ground up (a module imports only from layers below it)::

    runtime, checks              device, seeds, budget; input validation
    data, metrics, losses        know nothing of models or methods
    models                       plain nn.Modules
    methods, theory              training and inference
    viz, widgets                 drawing and interaction
"""

__version__ = "0.1.0"

from . import checks, metrics, runtime  # noqa: E402

__all__ = ["checks", "metrics", "runtime", "__version__"]
