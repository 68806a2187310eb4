"""Translate a folder of images with a trained checkpoint (the `spagan translate` command)."""

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from spagan.errors import SpaganError
from spagan.imageio import list_images, load_image, save_image
from spagan.inference import Translator

log = logging.getLogger(__name__)


def translate_folder(checkpoint: str | Path, direction: str, input_dir: str | Path, output_dir: str | Path,
                     *, save_attention: bool = False, size: int | None = None, batch_size: int = 8,
                     device: str = "auto", on_image: Callable[[Path], None] | None = None) -> list[Path]:
    """Translate every image under input_dir (resized to the training size, or `size`) into
    output_dir as PNG, keeping relative paths; with save_attention also <name>_attention.png.
    Returns the written translation paths."""
    translator = Translator.from_checkpoint(checkpoint, device)
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = list_images(input_dir)
    if not files:
        raise SpaganError(f"{input_dir}: no images to translate")
    size = size or translator.image_size
    if size % 4:
        raise SpaganError(f"size {size} must be a multiple of 4")
    written = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        x = torch.stack([load_image(p, size) for p in chunk])
        out = translator.run(x, direction, reconstruct=False)
        for i, src in enumerate(chunk):
            dst = (output_dir / src.relative_to(input_dir)).with_suffix(".png")
            save_image(out.fake[i], dst)
            if save_attention:
                heat = out.attention[i].expand(3, -1, -1) * 2 - 1
                save_image(heat, dst.with_name(dst.stem + "_attention.png"))
            written.append(dst)
            if on_image is not None:
                on_image(dst)
    log.info("translated %d images %s into %s", len(written), direction, output_dir)
    return written
