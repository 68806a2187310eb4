"""Compose a CycleGAN-layout source whose test split of one domain is a masked evaluation set.

A benchmark without masks (horse2zebra) says nothing about where the attention lands; a set of
real photos with hand-made object masks (the Weizmann horses) does. This builds the folder that
pairs them: ``trainA/ trainB/`` (and the other domain's test split) from the benchmark,
``testA/`` from the masked set with each mask as ``testA_mask/<stem>.png`` (the layout
spagan.data.sources reads), ready for ``spagan prepare`` (folder, or zipped by the caller).

Files are copied, never linked: the folder is a new source that a user may move or zip, and
the originals stay untouched. Every image of the masked set must have its mask (same stem,
``.png``); a missing one is an error naming the file. The folder is built beside `dest` and
swapped into place, so a failure leaves no half-built source.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from spagan.core.errors import SpaganError
from spagan.core.fileio import make_temp_dir, replace_dir
from spagan.core.image_formats import IMAGE_EXTS

SPLITS = ("trainA", "trainB", "testA", "testB")


def _images(folder: Path, limit: int | None) -> list[Path]:
    """The image files of `folder` (sorted by name), the first `limit` of them when given."""
    if not folder.is_dir():
        raise SpaganError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    return files if limit is None else files[:limit]


def build_masked_source(
    dest: str | Path,
    *,
    benchmark: str | Path,
    masked_images: str | Path,
    masks: str | Path,
    masked_split: str = "testA",
    per_split: dict[str, int] | None = None,
    names: dict[str, list[str]] | None = None,
) -> Path:
    """Write a CycleGAN-layout folder at `dest` (replaced as a whole) and return it.

    `benchmark`: a CycleGAN-layout folder whose splits other than `masked_split` are copied;
    `masked_images`, `masks`: the masked set (images and same-stem PNG masks, 0/255), copied to
    ``<masked_split>/`` and ``<masked_split>_mask/``. `per_split` limits a split to its first
    (sorted) images, for small test sources; `names` adds named files of a split on top of the
    limit (for example a greyscale trainB image a test must cover).
    """
    if masked_split not in SPLITS:
        raise SpaganError(f"masked_split={masked_split!r}: must be one of {', '.join(SPLITS)}")
    dest, benchmark, masks = Path(dest), Path(benchmark), Path(masks)
    per_split, names = per_split or {}, names or {}
    plan: dict[str, list[Path]] = {}
    for split in SPLITS:
        folder = Path(masked_images) if split == masked_split else benchmark / split
        chosen = _images(folder, per_split.get(split))
        extra = [folder / n for n in names.get(split, []) if folder / n not in chosen]
        for path in extra:
            if not path.is_file():
                raise SpaganError(f"{path}: named image not found")
        plan[split] = chosen + extra
    mask_of = {}
    for image in plan[masked_split]:
        mask = masks / f"{image.stem}.png"
        if not mask.is_file():
            raise SpaganError(f"{image}: no mask {mask} (every image of the masked set needs one)")
        mask_of[image] = mask
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(dest.parent, f".{dest.name}.tmp-")
    try:
        for split, files in plan.items():
            (tmp / split).mkdir()
            for path in files:
                shutil.copyfile(path, tmp / split / path.name)
        (tmp / f"{masked_split}_mask").mkdir()
        for image, mask in mask_of.items():
            shutil.copyfile(mask, tmp / f"{masked_split}_mask" / mask.name)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
