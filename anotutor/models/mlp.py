"""A small multi-layer perceptron: the generator and discriminator of the 1-D GAN."""

from __future__ import annotations

from torch import nn

from ..checks import check_int

__all__ = ["MLP"]


class MLP(nn.Module):
    """``in_features`` -> ``depth`` hidden layers of ``hidden`` units (LeakyReLU 0.2) -> ``out_features``.

    The output is linear: a sample x for a generator, a logit for a
    discriminator (D = sigmoid(logit)).
    """

    def __init__(self, in_features: int = 1, out_features: int = 1, hidden: int = 32, depth: int = 2):
        super().__init__()
        in_features = check_int(in_features, "in_features")
        out_features = check_int(out_features, "out_features")
        hidden = check_int(hidden, "hidden")
        depth = check_int(depth, "depth")
        layers, width = [], in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
