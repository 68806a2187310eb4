"""The discriminator's geometry at the training size: `model.n_layers_d: auto` and what it gives.

The paper's 70 x 70 PatchGAN (3 stride-2 layers) was designed for 256 px: each output patch
sees 70 px, 27% of the image side, and its second-to-last layer (the attention's source, Eq. 1)
is a 31 x 31 map. One layer fewer per halving keeps both at smaller sizes:

    image  n_layers_d  receptive field      attention map
    256    3           70 px (27%)          31 x 31
    128    2           34 px (27%)          31 x 31
     64    1           16 px (25%)          31 x 31
     64    3           70 px (109%)          7 x  7   (the demo's setting until issue 30's study)

(computed by :func:`patch_geometry`; tests/test_models.py checks it against the built network.)
`auto` resolves to round(log2(image_size / 32)), clipped to [1, 8]: 3 at 256 px, 2 at 128, 1 at
64 and below, 4 at 512. The loader resolves it (spagan.config.loading), so every loaded Config
holds the int: the networks, checkpoints, lineage.json and `spagan train --dry-run` all see the
number that ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AUTO = "auto"
MIN_LAYERS, MAX_LAYERS = 1, 8  # the attention needs a second-to-last layer; rules.py's range
# The paper's geometry: 3 layers at 256 px, so a layer per halving is log2(size / 32).
PAPER_SIZE_PER_LAYER = 32


def auto_n_layers_d(image_size: int) -> int:
    """PatchGAN depth that keeps the paper's receptive field share and map size at `image_size`:
    round(log2(image_size / 32)) clipped to [1, 8] (3 at 256 px, 2 at 128, 1 at 64)."""
    if image_size <= PAPER_SIZE_PER_LAYER:
        return MIN_LAYERS
    return min(MAX_LAYERS, max(MIN_LAYERS, round(math.log2(image_size / PAPER_SIZE_PER_LAYER))))


def resolve_n_layers_d(value: int | str, image_size: int) -> int:
    """model.n_layers_d as the networks are built: the int itself, or `auto` at train.image_size."""
    return auto_n_layers_d(image_size) if value == AUTO else int(value)


@dataclass(frozen=True)
class PatchGeometry:
    """What one PatchGAN sees at one image size."""

    n_layers: int
    image_size: int
    receptive_field: int  # px of the input each output logit depends on (per side)
    map_side: int  # side of the second-to-last layer: the attention map before upsampling
    logits_side: int  # side of the patch logits

    @property
    def field_share(self) -> float:
        """Receptive field as a share of the image side (0.27 for the paper's 70 px at 256)."""
        return self.receptive_field / self.image_size

    def describe(self) -> str:
        """'n_layers_d 1: each patch sees 16 px (25% of 64 px), attention map 31 x 31'."""
        return (f"n_layers_d {self.n_layers}: each patch sees {self.receptive_field} px "
                f"({self.field_share:.0%} of {self.image_size} px), attention map {self.map_side} x {self.map_side}")


def patch_geometry(n_layers: int, image_size: int) -> PatchGeometry:
    """Receptive field and map sides of spagan.models.Discriminator(n_layers) on a square image:
    n_layers 4x4 stride-2 convolutions, then two 4x4 stride-1 ones (the second-to-last layer and
    the head), all with padding 1."""
    strides = [2] * n_layers + [1, 1]
    field = 1
    for stride in reversed(strides):  # back from one logit to the input
        field = (field - 1) * stride + 4
    side = image_size
    for _ in range(n_layers):
        side = (side + 2 - 4) // 2 + 1
    map_side = side - 1  # 4x4, stride 1, padding 1
    return PatchGeometry(n_layers, image_size, field, map_side, map_side - 1)
