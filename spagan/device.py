"""Device and precision choice: CUDA when present, else CPU; bf16 autocast and channels_last on CUDA."""

import contextlib
import functools
from collections.abc import Callable

import torch

from spagan.errors import SpaganError


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; an explicit 'cuda' without a GPU is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpaganError(f"device {device!r} requested but CUDA is not available")
    return dev


def _switch(setting: str, device: torch.device) -> bool:
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def autocast_factory(amp: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A no-arg factory of the autocast context: bf16 when amp is on (auto: CUDA only)."""
    if _switch(amp, device):
        return functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def memory_format(channels_last: str, device: torch.device) -> torch.memory_format:
    """channels_last when switched on (auto: CUDA only), else contiguous."""
    return torch.channels_last if _switch(channels_last, device) else torch.contiguous_format
