"""Fold each BatchNorm of a frozen network into the convolution before it: the same function, fewer passes.

In evaluation mode a BatchNorm is an affine map per channel,
:math:`y = \\gamma (x - \\mu) / \\sqrt{\\sigma^2 + \\epsilon} + \\beta`, and a
convolution followed by an affine map per output channel is again a
convolution: its weights scaled by :math:`\\gamma / \\sqrt{\\sigma^2 +
\\epsilon}` and a bias added. Folding removes one pass over every
activation map, which on a CPU is what depthwise networks wait on (chapter
8's speed section). The arithmetic is torch's
:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`; this module only finds the
pairs. timm's ``BatchNormAct2d`` (a BatchNorm with its activation) becomes
its activation alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batchnorm"]


def _activation(bn: nn.BatchNorm2d) -> nn.Module:
    """What is left of a BatchNorm once folded: nothing, or timm's activation (and dropout) after it."""
    act, drop = getattr(bn, "act", None), getattr(bn, "drop", None)
    parts = [m for m in (drop, act) if m is not None and not isinstance(m, nn.Identity)]
    return nn.Sequential(*parts) if parts else nn.Identity()


@torch.no_grad()
def fold_batchnorm(network: nn.Module) -> nn.Module:
    """A copy of ``network`` (in evaluation mode) with every BatchNorm2d that directly follows a Conv2d
    among its parent's children folded into it; other modules are kept as they are.

    "Directly follows" is the order in which the parent registers its
    children, which is the order of the forward pass in timm's and
    torchvision's convolutional blocks; the caller checks that the copy
    computes the same function (the backbone's tests do, for every architecture).
    """
    folded = copy.deepcopy(network).eval()

    def walk(parent: nn.Module) -> None:
        names = list(parent._modules)
        for before, name in zip([None, *names[:-1]], names):
            child = parent._modules[name]
            conv = parent._modules[before] if before is not None else None
            if (
                isinstance(child, nn.BatchNorm2d)
                and isinstance(conv, nn.Conv2d)
                and child.track_running_stats
                and child.num_features == conv.out_channels
            ):
                assert before is not None  # conv is a module, so it has a name
                parent._modules[before] = fuse_conv_bn_eval(conv, child)
                parent._modules[name] = _activation(child)
            elif child is not None:
                walk(child)

    walk(folded)
    return folded.requires_grad_(False)
