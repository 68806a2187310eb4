"""Device, precision and loader choices: CUDA when present, else CPU; the `auto` settings resolved per device."""

import contextlib
import functools
import os
from collections.abc import Callable

import torch

from spagan.core.errors import SpaganError


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; an explicit 'cuda' without a GPU is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpaganError(f"device {device!r} requested but CUDA is not available")
    return dev


def configure_backends(device: torch.device) -> None:
    """Backend settings for training on `device`. On CUDA: cuDNN's autotuner (the crop size is
    fixed, so each convolution shape is tuned once and reused), as CycleGAN's reference
    implementation does for fixed-size inputs."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def autocast_factory(amp: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A no-arg factory of the autocast context: bf16 only when amp is `on`.

    `auto` is fp32 on every device, as CycleGAN trains: bf16 has never been compared with fp32 on
    the quality yardstick here, and a faster step is worth nothing if the translations differ.
    `auto` turns bf16 on for CUDA only once a GPU measurement (scripts/gpu-check's fp32-vs-bf16
    comparison) shows it equal within seed noise (BENCHMARKS.md).
    """
    if amp == "on":
        return functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def memory_format(channels_last: str, device: torch.device) -> torch.memory_format:
    """channels_last only when switched on; `auto` is contiguous on every device.

    Why not on CUDA: instance norm and reflection padding return NCHW tensors, so most
    convolutions of these networks would convert the layout on the way in and out (about 19%
    more low-level ops per demo step, counted on a CPU), and on the CPU it measured slower
    (BENCHMARKS.md). `auto` turns it on only once a GPU measurement (scripts/gpu-check) shows a gain.
    """
    return torch.channels_last if channels_last == "on" else torch.contiguous_format


# Loader workers on CUDA under `auto`: enough to decode, resize and crop ahead of a fast GPU step
# while leaving a core for the training process itself.
MAX_AUTO_WORKERS = 8


def loader_workers(setting: int | str, device: torch.device) -> int:
    """Data loader worker processes: an explicit count, or `auto`: on CUDA up to 8 (one core
    left for the training process); on the CPU 0, because there the step itself uses every
    core and decoding in the main process costs less than workers competing for them."""
    if setting != "auto":
        if not isinstance(setting, int) or setting < 0:
            raise SpaganError(f"train.num_workers must be auto or a count >= 0, got {setting!r}")
        return setting
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_AUTO_WORKERS, cores - 1))
