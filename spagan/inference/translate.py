"""Translate a folder of images with a trained checkpoint (the `spagan translate` command).

Every image keeps its own size and aspect (or is scaled so its longer side is `size`): the
networks are fully convolutional, so sides are reflection-padded to a multiple of 4 and the
outputs cropped back. Images of the same size are batched together. Before anything runs,
the memory each size needs is checked against what is free, so a photo too large for the
machine fails at once with a `--size` that fits instead of running out of memory midway.
"""

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from spagan.core.errors import SpaganError
from spagan.core.imageio import image_size, list_images, load_image_fitted, save_image
from spagan.core.sizing import fit_longer_side
from spagan.inference.memory import available_bytes, budget_bytes, largest_fitting_side, translation_bytes
from spagan.inference.translator import Translator

log = logging.getLogger(__name__)

GIB = 2**30


def check_memory(sizes: dict[Path, tuple[int, int]], ngf: int, budget: int | None) -> None:
    """SpaganError (one line, naming a --size that fits) if the largest image cannot be
    translated within `budget` bytes; nothing is checked when the budget is unknown (None)."""
    if budget is None or not sizes:
        return
    path, (w, h) = max(sizes.items(), key=lambda item: item[1][0] * item[1][1])
    need = translation_bytes(h, w, ngf)
    if need <= budget:
        return
    # --size applies to every image (scaling up too): the squarest one bounds it
    sides = [largest_fitting_side(sw, sh, ngf, budget) for sw, sh in set(sizes.values())]
    side = None if None in sides else min(sides)
    fix = f"use --size {side} (longer side in px) or less" if side else "no --size fits: free some memory"
    raise SpaganError(f"{path.name}: translating {w}x{h} px needs about {need / GIB:.1f} GiB but "
                      f"{budget / GIB:.1f} GiB are available; {fix}")


def group_by_size(sizes: dict[Path, tuple[int, int]]) -> dict[tuple[int, int], list[Path]]:
    """Files grouped by (width, height), in the order each size first appears."""
    groups: dict[tuple[int, int], list[Path]] = {}
    for path, wh in sizes.items():
        groups.setdefault(wh, []).append(path)
    return groups


def batch_limit(width: int, height: int, ngf: int, budget: int | None, batch_size: int) -> int:
    """How many width x height images go into one pass: `batch_size`, fewer if memory is short."""
    if budget is None:
        return batch_size
    one = translation_bytes(height, width, ngf) - translation_bytes(0, 0, ngf)
    spare = budget - translation_bytes(0, 0, ngf)
    return max(1, min(batch_size, spare // max(one, 1)))


def translate_folder(checkpoint: str | Path, direction: str, input_dir: str | Path, output_dir: str | Path,
                     *, save_attention: bool = False, size: int | None = None, batch_size: int = 8,
                     device: str = "auto", memory_limit: int | None = None,
                     on_image: Callable[[Path], None] | None = None) -> list[Path]:
    """Translate every image under input_dir into output_dir as PNG, keeping relative paths and
    each image's size (or scaling its longer side to `size`); with save_attention also
    <name>_attention.png at the same size. `memory_limit` (bytes) replaces the free memory
    of the device as the budget checked before anything runs. Returns the written paths."""
    translator = Translator.from_checkpoint(checkpoint, device)
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = list_images(input_dir)
    if not files:
        raise SpaganError(f"{input_dir}: no images to translate")
    # sizes from the headers only: the check below runs before any image is decoded
    sizes = {p: fit_longer_side(*image_size(p), size) for p in files}
    for path, (w, h) in sizes.items():
        if min(w, h) < translator.min_side:
            raise SpaganError(f"{path.name}: {w}x{h} px is too small: the networks need at least "
                              f"{translator.min_side} px on each side (scale up with --size)")
    ngf = translator.cfg.model.ngf
    budget = memory_limit if memory_limit is not None else budget_bytes(available_bytes(translator.device))
    check_memory(sizes, ngf, budget)
    written = []
    for (w, h), paths in group_by_size(sizes).items():
        step = batch_limit(w, h, ngf, budget, batch_size)
        for start in range(0, len(paths), step):
            chunk = paths[start:start + step]
            images = [load_image_fitted(p, size) for p in chunk]
            # a header that disagreed with the decoded image (rare) is translated on its own
            batches = [torch.stack(images)] if len({t.shape for t in images}) == 1 else [t[None] for t in images]
            outs = [translator.run(x, direction, reconstruct=False) for x in batches]
            results = [(fake, attn) for o in outs for fake, attn in zip(o.fake, o.attention)]
            for src, (fake, attn) in zip(chunk, results):
                dst = (output_dir / src.relative_to(input_dir)).with_suffix(".png")
                save_image(fake, dst)
                if save_attention:
                    save_image(attn.expand(3, -1, -1) * 2 - 1, dst.with_name(dst.stem + "_attention.png"))
                written.append(dst)
                if on_image is not None:
                    on_image(dst)
    log.info("translated %d images %s into %s", len(written), direction, output_dir)
    return written
