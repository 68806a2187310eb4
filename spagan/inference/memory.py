"""How much memory a translation needs, how much there is, and the largest size that fits.

A translation that cannot fit should fail before it starts, with a size that would work,
never by running the machine out of memory halfway through a folder.

The model (float32 inference, source-D attention then G) was fitted to peak resident-set
rises measured by ``benchmarks/translate_memory.py`` on CPU (see BENCHMARKS.md): G's
full-resolution activations (ngf channels, a few alive at once around the 7x7 convolutions
and their reflection pads) dominate, hence bytes per pixel = 110 + 15.5 * ngf, plus a fixed
allowance for the oneDNN scratch buffers and allocator slack that small images show.
The figure is an upper bound of every measurement, not a mean.
"""

import math
import os
from pathlib import Path

import torch

from spagan.core.sizing import padded_shape

BASE_BYTES = 128 * 2**20       # fixed allowance per pass
BYTES_PER_PIXEL = 110.0        # attention, input copies, D's first layers
BYTES_PER_PIXEL_PER_NGF = 15.5  # G's full-resolution feature maps (float32)
SAFETY = 0.9                   # leave a tenth of what is free for everything else


def translation_bytes(height: int, width: int, ngf: int, batch: int = 1) -> int:
    """Estimated peak memory of translating `batch` images of height x width (before padding)."""
    ph, pw = padded_shape(height, width)
    return int(BASE_BYTES + batch * ph * pw * (BYTES_PER_PIXEL + BYTES_PER_PIXEL_PER_NGF * ngf))


def _cgroup_free() -> int | None:
    """Memory left under a cgroup v2 limit (containers), or None where there is no limit."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def _mem_available() -> int | None:
    """MemAvailable from /proc/meminfo (Linux): free memory plus what the page cache can give back."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a translation on `device` (None: unknown, then nothing is checked)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    values = [v for v in (_mem_available(), _cgroup_free()) if v is not None]
    return min(values) if values else None


def budget_bytes(available: int | None) -> int | None:
    """What a translation may use out of `available`."""
    return None if available is None else int(available * SAFETY)


def largest_fitting_side(width: int, height: int, ngf: int, budget: int) -> int | None:
    """The largest longer side (a multiple of 4) to which a width x height image can be scaled,
    aspect kept, and still translate within `budget` bytes; None if not even 16 px fits."""
    per_pixel = BYTES_PER_PIXEL + BYTES_PER_PIXEL_PER_NGF * ngf
    pixels = (budget - BASE_BYTES) / per_pixel
    if pixels <= 0:
        return None
    ratio = min(width, height) / max(width, height)
    side = int(math.sqrt(pixels / ratio)) // 4 * 4
    while side >= 16:
        scale = side / max(width, height)
        if translation_bytes(max(1, round(height * scale)), max(1, round(width * scale)), ngf) <= budget:
            return side
        side -= 4
    return None
