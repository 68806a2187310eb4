"""Ground-truth files beside the test images: object masks and counterparts.

``spagan prepare`` writes them beside each split folder with the image's name: the mask of
``testA/a_0007.png`` is ``testA_mask/a_0007.png`` (0/255, L) and, on the demo, its counterpart
(the same scene rendered with the other domain's object) is ``testA_pair/a_0007.png``. Masks
may also lie under ``masks/testA/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from spagan.core.errors import SpaganError


def _beside(data_dir: Path, split: str, image: Path, roots: tuple[Path, ...]) -> Path | None:
    """The file of `image`'s relative path (or its stem as .png) under the first root holding it."""
    rel = image.relative_to(data_dir / split)
    for root in roots:
        for candidate in (root / rel, (root / rel).with_suffix(".png")):
            if candidate.is_file():
                return candidate
    return None


def find_mask(data_dir: Path, split: str, image: Path) -> Path | None:
    """The mask of `image` (in data_dir/<split>/): same relative path, or same stem as .png, under
    ``data_dir/<split>_mask/`` (the prepared layout) or ``data_dir/masks/<split>/``."""
    return _beside(data_dir, split, image, (data_dir / f"{split}_mask", data_dir / "masks" / split))


def find_pair(data_dir: Path, split: str, image: Path) -> Path | None:
    """The counterpart of `image` (in data_dir/<split>/) under ``data_dir/<split>_pair/``, if any."""
    return _beside(data_dir, split, image, (data_dir / f"{split}_pair",))


def load_mask(path: Path, shape: int | tuple[int, int]) -> np.ndarray:
    """Binary object mask of `shape` (height, width; an int is square; pixels > 127 are object),
    nearest-neighbour resized."""
    height, width = (shape, shape) if isinstance(shape, int) else shape
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (width, height):
                im = im.resize((width, height), Image.NEAREST)
            return np.asarray(im) > 127
    except OSError as exc:
        raise SpaganError(f"{path}: cannot read mask ({exc})") from None
