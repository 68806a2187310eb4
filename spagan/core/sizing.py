"""Image sizes for fully convolutional translation: keep each image's aspect, pad to a multiple of 4.

The generator halves the resolution twice and doubles it twice, so it needs sides that are
multiples of 4; any other size is reflection-padded up to one and cropped back afterwards
(as CycleGAN's `--preprocess none` test mode translates photos at their own size).
"""

import math

import torch
import torch.nn.functional as F

from spagan.core.errors import SpaganError

MULTIPLE = 4  # two stride-2 convolutions down, two transposed convolutions up


def min_side(n_layers_d: int) -> int:
    """Smallest padded side the networks accept: D's second-to-last layer (the attention
    features) sits at 1/2**n_layers resolution minus one pixel and must keep at least one
    pixel; G's residual blocks reflection-pad by 1 at 1/4 resolution (needs 2)."""
    return max(8, 2 ** (n_layers_d + 1))


def fit_longer_side(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `size` (aspect kept); unchanged if size is None."""
    if size is None:
        return width, height
    if size <= 0:
        raise SpaganError(f"size must be positive, got {size}")
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def padded_shape(height: int, width: int) -> tuple[int, int]:
    """(height, width) rounded up to multiples of 4."""
    return math.ceil(height / MULTIPLE) * MULTIPLE, math.ceil(width / MULTIPLE) * MULTIPLE


def pad_to_multiple(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Reflection-pad [N, C, h, w] to multiples of 4 -> (padded, box (top, left, h, w) to crop back).

    The padding is split between both sides, so a border pixel stays near the middle of what
    the network sees; reflection (not zeros) keeps a constant image constant.
    """
    h, w = x.shape[-2:]
    ph, pw = padded_shape(h, w)
    top, left = (ph - h) // 2, (pw - w) // 2
    pads = (left, pw - w - left, top, ph - h - top)
    if not any(pads):
        return x, (0, 0, h, w)
    # reflect needs the pad to be smaller than the side; 1-3 px images fall back to replicate
    mode = "reflect" if max(pads[:2]) < w and max(pads[2:]) < h else "replicate"
    return F.pad(x, pads, mode=mode), (top, left, h, w)


def crop(x: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: the [..., h, w] window at (top, left)."""
    top, left, h, w = box
    return x[..., top:top + h, left:left + w]
