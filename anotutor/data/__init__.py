"""Data: the embedded textures, MNIST, a reader's own folders, and pseudo-anomalies.

* :mod:`.textures`  the default data set (scikit-image photographs, offline)
* :mod:`.defects`   test-time defects with exact masks (scratch, crack, hole, stain)
* :mod:`.mnist`     MNIST and the Noisy-AnoGAN split protocol
* :mod:`.elpv`      real solar-cell defects from PyPI (image labels only)
* :mod:`.parts`     digits as parts, aligned or rotated (where PaDiM's per-position model stops)
* :mod:`.irmnist`   IR-MNIST: puzzles of digits with one anomalous class, and pixel masks
* :mod:`.folder`    a reader's folder in the MVTec AD layout, loaded into splits
* :mod:`.images`    image files decoded (any format, size, grey or colour) and listed
* :mod:`.writer`    splits written into the MVTec AD layout
* :mod:`.mvtec`     the MVTec AD categories and its verified download
* :mod:`.synth`     training-time pseudo-anomalies (uniform, Perlin, SLIC)
* :mod:`.splits`    the split objects all of them return
* :mod:`.toy1d`     a 1-D mixture with a known anomaly mode, for the GAN theory
"""

from .defects import DEFECT_KINDS, add_defect, add_defects
from .elpv import elpv
from .folder import load_folder
from .irmnist import ir_mnist, ir_setup
from .mnist import load_mnist, mnist_setup, noisy_anogan_split
from .mvtec import MVTEC_CATEGORIES, download_mvtec
from .parts import digit_parts
from .splits import AnomalyDataset, Split
from .synth import perlin_anomaly, perlin_mask, perlin_noise, slic_anomaly, superpixels, uniform_noise
from .textures import REGIONS, TEXTURES, texture_crops, texture_photo, textures
from .toy1d import Mixture1D, Toy1D, noisy_1d
from .writer import save_folder

__all__ = [
    "AnomalyDataset",
    "Split",
    "TEXTURES",
    "REGIONS",
    "textures",
    "texture_crops",
    "texture_photo",
    "DEFECT_KINDS",
    "add_defect",
    "add_defects",
    "load_mnist",
    "noisy_anogan_split",
    "mnist_setup",
    "ir_setup",
    "digit_parts",
    "ir_mnist",
    "elpv",
    "load_folder",
    "save_folder",
    "download_mvtec",
    "MVTEC_CATEGORIES",
    "uniform_noise",
    "perlin_noise",
    "perlin_mask",
    "perlin_anomaly",
    "superpixels",
    "slic_anomaly",
    "Mixture1D",
    "Toy1D",
    "noisy_1d",
]
