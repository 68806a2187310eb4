"""Side-by-side pictures of several models on the same photos: the input, then per model its source
discriminator's attention overlay and its translation (issue 30; docs/fidelity.md, the Dagster
asset ``side_by_side_gallery``, benchmarks/side_by_side.py).

Each photo is scaled so its longer side is the first model's training size (aspect kept), as
`spagan evaluate` does. A model trained without attention (CycleGAN) still has a discriminator: its
map is shown as that D computes it (the post-hoc reading), and its translation is the plain,
unblended one, so the columns compare what each model does, and where each D looks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.utils import make_grid

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_bytes
from spagan.core.grid import PADDING, letterbox, overlay
from spagan.core.imageio import list_images, load_image_fitted, tensor_to_pil
from spagan.inference.translator import Translator


@dataclass(frozen=True)
class SideBySide:
    """What a written side-by-side picture shows: the PNG, the columns, the photos (one per row)
    and the sha256 of every model's weights file, in column order."""

    path: Path
    columns: list[str]
    images: list[str]
    models: dict[str, str]


def columns(names: list[str]) -> list[str]:
    """The column headings: input, then attention and translation per model."""
    return ["input"] + [f"{n} {what}" for n in names for what in ("attention", "translation")]


def side_by_side(translators: dict[str, tuple[Translator, Translator]], images: list[Path],
                 direction: str) -> torch.Tensor:
    """Grid [3, H, W] in [-1, 1], one row per photo: input | (attention, translation) per model.
    translators: name -> (plain translator, post-hoc reading for the map), in column order."""
    first = next(iter(translators.values()))[0]
    tiles = []
    for path in images:
        x = load_image_fitted(path, first.image_size)
        tiles.append(x)
        for plain, looks in translators.values():
            fake = plain.run(x[None], direction, reconstruct=False).fake[0].float().cpu()
            attention = looks.run(x[None], direction, reconstruct=False).attention[0].float().cpu()
            tiles += [overlay(x, attention), fake]
    height, width = max(t.shape[-2] for t in tiles), max(t.shape[-1] for t in tiles)
    tiles = [t if t.shape[-2:] == (height, width) else letterbox(t, height, width) for t in tiles]
    return make_grid(torch.stack(tiles), nrow=1 + 2 * len(translators), padding=PADDING, pad_value=1.0)


def load_translators(models: dict[str, Path], device: str = "cpu") -> dict[str, tuple[Translator, Translator]]:
    """name -> (plain translator, post-hoc reading) for every model (a checkpoint.pt,
    model.safetensors or a model/run folder); SpaganError naming a model that cannot be loaded."""
    loaded = {}
    for name, path in models.items():
        if not Path(path).exists():
            raise SpaganError(f"{path}: no such model ({name})")
        loaded[name] = (Translator.from_checkpoint(path, device=device),
                        Translator.from_checkpoint(path, device=device, post_hoc_blend=True))
    return loaded


def write_side_by_side(models: dict[str, Path], image_dir: Path, direction: str, out: Path, *, n: int = 6,
                       skip: int = 0, zoom: int = 3, device: str = "cpu") -> SideBySide:
    """Write the side-by-side PNG of the first n photos (sorted, after skip) of image_dir to out
    (atomically, enlarged zoom times, nearest neighbour); SpaganError for a missing model or a
    folder without photos."""
    if direction not in ("a2b", "b2a"):
        raise SpaganError(f"direction must be a2b or b2a, not {direction!r}")
    if not Path(image_dir).is_dir():
        raise SpaganError(f"{image_dir}: no such folder of photos")
    images = list_images(image_dir)[skip:skip + n]
    if not images:
        raise SpaganError(f"{image_dir}: no images to show (skip {skip}, n {n})")
    translators = load_translators(models, device)
    picture = tensor_to_pil(side_by_side(translators, images, direction))
    picture = picture.resize((picture.width * zoom, picture.height * zoom), resample=0)  # 0: nearest
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    return SideBySide(path=Path(out), columns=columns(list(models)), images=[p.name for p in images],
                      models={name: t[0].checkpoint_sha256 for name, t in translators.items()})
