"""Per-device choices: loader workers and backend settings under `auto`."""

import pytest
import torch

from spagan.core.device import autocast_factory, configure_backends, loader_workers, memory_format
from spagan.core.errors import SpaganError


def test_auto_workers_per_device():
    assert loader_workers("auto", torch.device("cpu")) == 0
    assert 1 <= loader_workers("auto", torch.device("cuda")) <= 8
    assert loader_workers(3, torch.device("cpu")) == 3
    with pytest.raises(SpaganError, match="num_workers"):
        loader_workers(-1, torch.device("cpu"))


def test_cudnn_autotuner_only_for_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    configure_backends(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    configure_backends(torch.device("cuda"))  # sets the flag; needs no GPU
    assert torch.backends.cudnn.benchmark is True


def test_channels_last_auto_is_off_on_every_device():
    # Instance norm and reflection padding return NCHW: channels_last would convert around most
    # convolutions. `auto` stays contiguous until a GPU measurement says otherwise.
    for dev in ("cpu", "cuda"):
        assert memory_format("auto", torch.device(dev)) == torch.contiguous_format
    assert memory_format("on", torch.device("cpu")) == torch.channels_last
    assert memory_format("off", torch.device("cuda")) == torch.contiguous_format


def test_amp_auto_is_fp32_on_every_device():
    # bf16 is unmeasured on the quality yardstick: `auto` trains in fp32 (as CycleGAN) until a
    # GPU comparison (scripts/gpu-check) shows it equal within seed noise; `on` still forces it.
    import contextlib

    for dev in ("cpu", "cuda"):
        assert autocast_factory("auto", torch.device(dev)) is contextlib.nullcontext
        assert autocast_factory("off", torch.device(dev)) is contextlib.nullcontext
    on = autocast_factory("on", torch.device("cpu"))
    with on():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
