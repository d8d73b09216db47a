"""The one training loop of the book's networks (the auto-encoder, PNUNet, both two-stage stages).

    losses = train_steps(net, steps, lr, step_loss, desc, enabled=progress)

Each step runs ``before_step(step)`` if given (PNUNet's mask update), then
``step_loss()`` (the method draws its batch with :func:`draw_batch`, corrupts
it as its paper says, runs the network and returns the loss of its equation),
then one Adam step; the losses come back one per step. With ``recalibrate``
(a function that runs one training-like batch forward), BatchNorm's running
statistics are recomputed under the final weights (:func:`recalibrate_batchnorm`).
The network is left in ``eval`` mode. AnoGAN's two-player loop
(:mod:`anotutor.methods.gan_step`) is the one loop of the book that is not
this one: it steps two optimisers against each other.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..data.augment import augment
from ..runtime import progress

__all__ = ["draw_batch", "train_steps", "recalibrate_batchnorm", "RECALIBRATION_BATCHES"]

RECALIBRATION_BATCHES = 8  # training-like batches that re-estimate BatchNorm's statistics


def draw_batch(x: torch.Tensor, batch_size: int, generator: torch.Generator, augmented: bool) -> torch.Tensor:
    """``batch_size`` images of ``x`` drawn with replacement (at most ``len(x)``), augmented
    (:func:`anotutor.data.augment.augment`) when ``augmented``; on ``x``'s device."""
    xb = x[torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=generator)]
    return augment(xb, generator=generator) if augmented else xb


def train_steps(
    net: nn.Module,
    steps: int,
    lr: float,
    step_loss: Callable[[], torch.Tensor],
    desc: str,
    enabled: bool = True,
    before_step: Callable[[int], None] | None = None,
    recalibrate: Callable[[], object] | None = None,
) -> np.ndarray:
    """Adam on ``net``'s parameters for ``steps`` steps of ``step_loss()``; the loss of every step."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = np.zeros(steps, dtype=np.float32)
    net.train()
    for step in progress(range(steps), desc=desc, enabled=enabled):
        if before_step is not None:
            before_step(step)
        loss = step_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.item()
    if recalibrate is not None:
        recalibrate_batchnorm(net, recalibrate)
    net.eval()
    return losses


def recalibrate_batchnorm(net: nn.Module, forward: Callable[[], object], batches: int = RECALIBRATION_BATCHES) -> None:
    """Re-estimate BatchNorm's running statistics under the final weights ("precise BN").

    During a short run at a high learning rate the weights move faster than
    BatchNorm's running averages follow, and the network in ``eval`` mode
    then sees features on another scale than it was trained on. So the
    averages are reset and recomputed, as plain means, over ``batches`` calls
    of ``forward()`` (one training-like batch each); no weight changes.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative mean
    net.train()
    with torch.no_grad():
        for _ in range(batches):
            forward()
    for m, mom in zip(norms, momenta):
        m.momentum = mom
