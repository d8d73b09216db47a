"""The convolutional auto-encoder of Fadaeinejad (2021), Tables 1 and 2, for any supported size.

Encoder (Table 1): five stride-2 convolutions (kernel 4) halve the image to
8 x 8, with kernel-3 convolutions between the later ones, then one
convolution with an 8 x 8 kernel maps to a ``latent_size`` x 1 x 1
bottleneck. Every convolution is followed by BatchNorm (momentum 0.1,
eps 1e-6) and LeakyReLU (slope 0.01); the bottleneck by BatchNorm only. The
tables' IN and OUT columns are channel counts (their captions say "size").
The paper never states its image size; five halvings ending at the 8 x 8
kernel imply 256 px, so we read the tables as written for 256 px.

Decoder (Table 2): rows 7 to 9 of the printed table (64 -> 128, 128 -> 64,
64 -> 32) repeat a block: its seventh layer takes 64 channels where the
sixth gives 32, and with them the table has seven stride-2 layers, which
would turn the 8 x 8 map into 1024 px. Without those three rows Table 2 is
exactly the mirror of Table 1: the channel counts chain, five upsamplings
lead back to 256 px, and, like Table 1's first layer, the 32 -> 3 layer is
followed by BatchNorm and LeakyReLU on a hidden 3-channel map; the last
transposed convolution feeds the sigmoid directly. That mirror is what we
build (a unit test compares it with the table at 256 px).

Other image sizes: we keep the table's *last* stride-2 blocks, as many as
halve the image to at most 8 px (3 for 64 px, 4 for 128 px, all 5 for
256 px), so the deep part of the network, where the bottleneck is, stays the
table's; the final kernel is the size reached (8 for 64, 128 and 256 px; 6
for 48 px). Table 1's first layer (3 -> 3 channels) is repeated only for
sizes above 256 px. Input channels follow the data: 1 for grayscale, 3 for
colour.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_int

__all__ = ["ConvAutoEncoder", "supported_size", "BN_MOMENTUM", "BN_EPS", "LEAKY_SLOPE"]

BN_MOMENTUM, BN_EPS, LEAKY_SLOPE = 0.1, 1e-6, 0.01

# Table 1's stride-2 blocks, shallowest first: (out_channels, [kernel-3 convs' out_channels]).
_BLOCKS = [(3, []), (32, []), (32, [32]), (64, [64]), (128, [64, 32])]


def supported_size(image_size: int) -> int:
    """Number of stride-2 stages for ``image_size``; raises when the size cannot be halved cleanly.

    Supported: ``m * 2**k`` with ``m <= 8`` and at least 32, e.g. 32, 48, 64, 96, 128, 192, 256, 512.
    """
    s = check_int(image_size, "image_size", minimum=32, maximum=2048)
    stages = 0
    while s > 8:
        if s % 2:
            raise ValueError(
                f"image_size must be m * 2**k with m <= 8 (e.g. 32, 48, 64, 96, 128, 256), got {image_size}"
            )
        s //= 2
        stages += 1
    return stages


def _conv(cin, cout, k, s, transposed=False, norm=True):
    conv_cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    pad = 1 if k in (3, 4) else 0
    layers = [conv_cls(cin, cout, k, s, pad, bias=not norm)]
    if norm:
        layers += [nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM), nn.LeakyReLU(LEAKY_SLOPE)]
    return layers


class ConvAutoEncoder(nn.Module):
    """``x`` [N, C, S, S] -> latent [N, latent_size, 1, 1] -> reconstruction [N, C, S, S] in [0, 1]."""

    def __init__(self, image_size: int = 64, channels: int = 1, latent_size: int = 100):
        super().__init__()
        stages = supported_size(image_size)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        latent_size = check_int(latent_size, "latent_size", minimum=1)
        self.image_size, self.channels, self.latent_size = image_size, channels, latent_size
        blocks = _BLOCKS[-stages:] if stages <= len(_BLOCKS) else [_BLOCKS[0]] * (stages - len(_BLOCKS)) + _BLOCKS
        final = image_size // 2**stages

        enc, cin = [], channels
        for cout, extra in blocks:
            enc += _conv(cin, cout, 4, 2)
            cin = cout
            for c in extra:
                enc += _conv(cin, c, 3, 1)
                cin = c
        enc += [
            nn.Conv2d(cin, latent_size, final, 1, 0, bias=False),
            nn.BatchNorm2d(latent_size, eps=BN_EPS, momentum=BN_MOMENTUM),
        ]
        self.encoder = nn.Sequential(*enc)

        dec = _conv(latent_size, cin, final, 1, transposed=True)
        widths = [channels] + [cout for cout, _ in blocks]  # input channels of each encoder block
        for i in reversed(range(len(blocks))):
            cout, extra = blocks[i]
            ins = [cout] + extra  # channels entering each kernel-3 conv, in encoder order
            for c in reversed(ins[:-1]):  # undo the kernel-3 convs
                dec += _conv(cin, c, 3, 1, transposed=True)
                cin = c
            target = widths[i]
            last = i == 0
            dec += _conv(cin, target, 4, 2, transposed=True, norm=not last)
            cin = target
        dec.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor, keep: int | torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct ``x``; ``keep`` (an int, or one int per image) zeroes all but the first
        ``keep`` latent numbers, so the decoder sees a bottleneck of that size (nested dropout)."""
        z = self.encoder(x)
        if keep is not None:
            keep = torch.as_tensor(keep, device=z.device).reshape(-1, 1)
            z = z * (torch.arange(self.latent_size, device=z.device)[None, :] < keep).to(z.dtype)[..., None, None]
        return self.decoder(z)

    def layer_table(self) -> list[dict]:
        """One row per layer (type, in, out, kernel, stride, output shape), as in the paper's tables."""
        rows, x = [], torch.zeros(2, self.channels, self.image_size, self.image_size)
        was_training = self.training
        self.eval()
        with torch.no_grad():
            for part, seq in (("encoder", self.encoder), ("decoder", self.decoder)):
                for layer in seq:
                    x = layer(x)
                    row: dict[str, str | int] = {
                        "part": part,
                        "layer": type(layer).__name__,
                        "in": "",
                        "out": "",
                        "kernel": "",
                        "stride": "",
                        "output": "x".join(map(str, x.shape[1:])),
                    }
                    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                        row.update(
                            {
                                "in": layer.in_channels,
                                "out": layer.out_channels,
                                "kernel": layer.kernel_size[0],
                                "stride": layer.stride[0],
                            }
                        )
                    elif isinstance(layer, nn.BatchNorm2d):
                        row["in"] = layer.num_features
                    rows.append(row)
        self.train(was_training)
        return rows
