"""Image grids: one row per image, input | attention overlay | translation | reconstruction.

Drawn in core because two layers show them: the evaluation gallery (spagan.evaluation.gallery)
and the previews written while training (spagan.training.previews), which may not import
evaluation. Pure tensor work: no files.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

COLUMNS = ("input", "attention overlay", "translation", "reconstruction")
PADDING = 2  # px between tiles (white)
OVERLAY_ALPHA = 0.5  # heatmap weight in the overlay


def heatmap(attention: torch.Tensor) -> torch.Tensor:
    """Jet-like colours [3, H, W] in [0, 1] for a map [H, W] or [1, H, W] in [0, 1] (blue low, red high)."""
    v = attention.detach().float().cpu().reshape(attention.shape[-2:]).clamp(0, 1)
    channels = [(1.5 - (4 * v - centre).abs()).clamp(0, 1) for centre in (3.0, 2.0, 1.0)]
    return torch.stack(channels)


def overlay(image: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """The heatmap of `attention` blended over `image` [3, H, W] in [-1, 1]; result in [-1, 1]."""
    h, w = image.shape[-2:]
    attn = attention.detach().float().cpu().reshape(1, 1, *attention.shape[-2:])
    if attn.shape[-2:] != (h, w):
        attn = F.interpolate(attn, size=(h, w), mode="bilinear", align_corners=False)
    base = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2
    mixed = (1 - OVERLAY_ALPHA) * base + OVERLAY_ALPHA * heatmap(attn[0, 0])
    return mixed * 2 - 1


def letterbox(tile: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """`tile` [3, h, w] centred on a white [3, height, width] canvas (the aspect stays as it is)."""
    h, w = tile.shape[-2:]
    canvas = torch.ones(3, height, width)
    top, left = (height - h) // 2, (width - w) // 2
    canvas[:, top:top + h, left:left + w] = tile
    return canvas


Images = torch.Tensor | Sequence[torch.Tensor]


def gallery_grid(real: Images, attention: Images, fake: Images, rec: Images) -> torch.Tensor:
    """Grid [3, H', W'] in [-1, 1]: one row per image, columns as in :data:`COLUMNS`.

    `real`, `fake`, `rec`: [N, 3, H, W] in [-1, 1] (or N tensors [3, H_i, W_i] of different
    sizes, each letterboxed into a cell of the largest height and width, aspect kept);
    `attention`: [N, 1, h, w] in [0, 1] (or N maps), upsampled to its image.
    """
    n = len(real)
    if not (len(attention) == len(fake) == len(rec) == n) or n == 0:
        raise ValueError(f"need the same non-zero N for all four, got {n}, {len(attention)}, {len(fake)}, {len(rec)}")
    tiles = []
    for i in range(n):
        tiles += [real[i].cpu().float(), overlay(real[i], attention[i]), fake[i].cpu().float(), rec[i].cpu().float()]
    height, width = max(t.shape[-2] for t in tiles), max(t.shape[-1] for t in tiles)
    tiles = [t if t.shape[-2:] == (height, width) else letterbox(t, height, width) for t in tiles]
    return make_grid(torch.stack(tiles), nrow=len(COLUMNS), padding=PADDING, pad_value=1.0)
