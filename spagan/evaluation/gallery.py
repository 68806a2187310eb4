"""Attention galleries: one row per test image, input | attention overlay | translation | reconstruction.

Written as PNG grids (atomically) and, because Dagster has no image metadata type, also
available as small base64 PNG thumbnails for markdown metadata. The grid itself is drawn by
spagan.core.grid (shared with the previews written while training) and re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from spagan.core.grid import COLUMNS, OVERLAY_ALPHA, PADDING, Images, gallery_grid, heatmap, letterbox, overlay
from spagan.core.imageio import save_image

__all__ = ["COLUMNS", "OVERLAY_ALPHA", "PADDING", "Images", "gallery_grid", "heatmap", "letterbox", "overlay",
           "write_gallery"]


def write_gallery(path: Path, real: Images, attention: Images, fake: Images, rec: Images) -> Path:
    """Write :func:`gallery_grid` as a PNG at `path` (atomic) and return the path."""
    save_image(gallery_grid(real, attention, fake, rec), path)
    return Path(path)
