"""Work on the side of a training run that must not change what the run draws next."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def rng_kept(device: torch.device) -> Iterator[None]:
    """Every random state training draws from (torch CPU and, on CUDA, the device's; numpy;
    random) is as it was before the block when it ends: a preview or an evaluation in the middle
    of a run never changes the weights the run reaches."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
