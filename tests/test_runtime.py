
import numpy as np
import pytest
import torch

from anotutor import runtime


def _no_mps(monkeypatch):
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)


def test_device_prefers_cuda_then_cpu(monkeypatch):
    monkeypatch.delenv("ANOTUTOR_DEVICE", raising=False)
    _no_mps(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.device().type == "cuda"      # an accelerator wins when there is one
    assert runtime.device("cpu").type == "cpu"  # unless the CPU is asked for
    monkeypatch.setenv("ANOTUTOR_DEVICE", "cpu")
    assert runtime.device().type == "cpu"


def test_device_refuses_missing_or_unknown():
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.device("cuda")
    with pytest.raises(ValueError, match="device must be"):
        runtime.device("tpu")


def test_seed_everything_repeats_torch_and_numpy():
    runtime.seed_everything(3)
    a = torch.randn(5), np.random.rand(3)
    runtime.seed_everything(3)
    b = torch.randn(5), np.random.rand(3)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    g1, g2 = runtime.seed_everything(4), runtime.seed_everything(4)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(1.5)


def test_timer_measures_and_divides():
    with runtime.Timer() as t:
        sum(range(10000))
    assert t.seconds > 0
    assert t.ms_per(2) == pytest.approx(500 * t.seconds)
    with pytest.raises(ValueError):
        t.ms_per(0)


def test_budget_presets_and_env(monkeypatch):
    monkeypatch.setenv("ANOTUTOR_BUDGET", "full")
    assert runtime.budget().name == "full"
    monkeypatch.setenv("ANOTUTOR_BUDGET", "ci")
    b = runtime.budget()
    assert b.name == "ci" and b.image_size == 64
    assert runtime.budget(steps=7).steps == 7
    assert runtime.budget("full").image_size > b.image_size
    with pytest.raises(ValueError, match="budget must be one of"):
        runtime.budget("huge")
    with pytest.raises(ValueError, match="unknown budget fields"):
        runtime.budget(epochs=3)


def test_budget_default_follows_device(monkeypatch):
    monkeypatch.delenv("ANOTUTOR_BUDGET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.budget().name == "ci"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.budget().name == "full"


def test_isolated_seed_repeats_and_restores():
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    with runtime.isolated_seed(3) as g:
        inside = torch.rand(2), torch.rand(2, generator=g)
    assert torch.equal(torch.rand(4), expected)  # the caller's stream goes on as if nothing happened
    with runtime.isolated_seed(3) as g:
        again = torch.rand(2), torch.rand(2, generator=g)
    assert torch.equal(inside[0], again[0]) and torch.equal(inside[1], again[1])
    with pytest.raises(ValueError, match="seed"):
        with runtime.isolated_seed(1.5):
            pass


def test_as_rng():
    g = np.random.default_rng(1)
    assert runtime.as_rng(g) is g
    assert runtime.as_rng(5).random() == runtime.as_rng(5).random()
    with pytest.raises(ValueError):
        runtime.as_rng("five")


def test_progress_bars_redraw_at_most_every_interval():
    from anotutor.runtime import PROGRESS_INTERVAL_S, progress
    bar = progress(range(3), desc="x", enabled=False)
    assert list(bar) == [0, 1, 2] and bar.disable
    assert progress(range(3), desc="y").mininterval == PROGRESS_INTERVAL_S >= 1
