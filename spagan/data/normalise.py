"""One rule that turns any supported image into the RGB training image.

The rule, in order:

1. EXIF orientation is applied (``ImageOps.exif_transpose``), so width and height are the
   displayed ones.
2. Images with alpha (LA, La, PA, RGBA, RGBa, or P with a transparency entry) are composited
   onto **white**, the background a viewer shows for them.
3. 16-bit and 32-bit integer greyscale (I;16*, I) is clipped to [0, 65535] and scaled to 8 bits
   by dropping the low byte (``v >> 8``), then treated as L.
4. Everything else (1, L, P, CMYK, YCbCr, RGBX) goes through Pillow's ``convert("RGB")``; CMYK
   uses Pillow's plain inversion (embedded ICC profiles are not applied).

Modes outside SUPPORTED_MODES (for example F, 32-bit float, which has no agreed display range)
are quarantined as ``unsupported_mode``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
SUPPORTED_MODES = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"}) | ALPHA_MODES | SIXTEEN_BIT_MODES


def to_rgb(im: Image.Image) -> Image.Image:
    """Apply the normalisation rule above; returns a new RGB image. `im` must be loaded."""
    im = ImageOps.exif_transpose(im)
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in SIXTEEN_BIT_MODES:
        arr = np.asarray(im).astype(np.int64)
        grey = (np.clip(arr, 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = mode in ALPHA_MODES or (mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")
