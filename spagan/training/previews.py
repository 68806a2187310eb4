"""Preview grids written while training: <run>/previews/step_NNNNNN.png.

One PNG per preview step holds both directions, a2b above b2a, each under a label band of
:data:`LABEL_BAND` px and laid out as the evaluation gallery is (spagan.core.grid: one row per
image, input | attention overlay | translation | reconstruction). The rows are a fixed set:
the first `preview_images` files (sorted) of trainA/ then of testA/ for a2b, of trainB/ and
testB/ for b2a (no test rows when the split is absent), each resized to train.image_size.

The networks translate by the test-time pass itself (spagan.models.translation, which
`spagan translate` and the evaluation run): the source D's attention map, Eq. 2's attended
generator input, model.attention_blend's blend, the cycle back; CycleGAN (model.attention
false) shows an all-ones map. They run in eval mode under no_grad with the RNG forked, so a preview changes
neither the weights nor anything the next step draws (tests/test_training_watch.py proves the
weights bit-identical with previews on and off).
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from spagan.config import ModelConfig
from spagan.core.grid import gallery_grid
from spagan.core.imageio import list_images, load_image, save_pil, tensor_to_pil
from spagan.core.layout import DIRECTIONS
from spagan.core.rng import rng_kept
from spagan.models import Networks
from spagan.models.translation import translate_batch

log = logging.getLogger(__name__)

LABEL_BAND = 12  # px of white above each direction's grid, naming it and its rows
_NAME = re.compile(r"step_(\d+)\.png")
_SOURCE = {"a2b": "A", "b2a": "B"}  # the domain each direction translates from


def preview_name(step: int) -> str:
    return f"step_{step:06d}.png"


def preview_files(data_dir: str | Path, n: int) -> dict[str, dict[str, list[Path]]]:
    """direction -> split -> the first n image files (sorted) of <split><source domain>/; a
    missing or empty test split gives no entry."""
    out: dict[str, dict[str, list[Path]]] = {}
    for direction in DIRECTIONS:
        splits = {}
        for split in ("train", "test"):
            folder = Path(data_dir) / f"{split}{_SOURCE[direction]}"
            files = list_images(folder)[:n] if folder.is_dir() else []
            if files:
                splits[split] = files
        out[direction] = splits
    return out


@dataclass
class PreviewRows:
    """One direction's fixed inputs [N, 3, S, S] on the training device, and what its rows are."""

    images: torch.Tensor
    label: str  # "a2b: 4 train, 4 test"


@dataclass
class Preview:
    """What one preview step drew: the PNG, the same picture as a [3, H, W] tensor in [0, 1]
    (for TensorBoard) and each direction's attention maps [N, 1, S, S] in [0, 1] (CPU)."""

    path: Path
    picture: torch.Tensor
    attention: dict[str, torch.Tensor]


def load_rows(files: dict[str, dict[str, list[Path]]], size: int, device: torch.device,
              fmt: torch.memory_format = torch.contiguous_format) -> dict[str, PreviewRows]:
    """Read the preview images once, for the whole run."""
    rows = {}
    for direction, splits in files.items():
        images = torch.stack([load_image(p, size) for split in splits.values() for p in split])
        label = f"{direction}: " + ", ".join(f"{len(split)} {name}" for name, split in splits.items())
        rows[direction] = PreviewRows(images.to(device, memory_format=fmt), label)
    return rows


def translate(nets: Networks, model_cfg: ModelConfig, x: torch.Tensor, direction: str
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(attention, translation, reconstruction) of x by the test-time pass (spagan.models.
    translation, which `spagan translate` runs too); x [N, 3, H, W], H and W multiples of 4."""
    out = translate_batch(nets, model_cfg, x, direction)
    return out.attention, out.fake, out.rec


@contextmanager
def _inert(nets: Networks, device: torch.device):
    """Eval mode and the RNG kept for the block; training modes and RNG state as they were after."""
    modules = list(nets.by_name().values())
    modes = [m.training for m in modules]
    with rng_kept(device):
        try:
            for m in modules:
                m.eval()
            yield
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)


def draw(nets: Networks, model_cfg: ModelConfig, rows: dict[str, PreviewRows], device: torch.device
         ) -> tuple[Image.Image, dict[str, torch.Tensor]]:
    """The preview picture (both directions, label bands) and each direction's attention maps."""
    bands, maps = [], {}
    with _inert(nets, device):
        for direction, row in rows.items():
            attn, fake, rec = translate(nets, model_cfg, row.images, direction)
            maps[direction] = attn.detach().float().cpu()
            bands.append((row.label, tensor_to_pil(gallery_grid(row.images.cpu(), maps[direction], fake, rec))))
    width = max(im.width for _, im in bands)
    canvas = Image.new("RGB", (width, sum(LABEL_BAND + im.height for _, im in bands)), "white")
    pen, top = ImageDraw.Draw(canvas), 0
    for label, im in bands:
        pen.text((2, top), label, fill="black")
        canvas.paste(im, (0, top + LABEL_BAND))
        top += LABEL_BAND + im.height
    return canvas, maps


class Previews:
    """The previews of one run folder: write one per preview step, keep the first and the last
    `keep` (0: all)."""

    def __init__(self, folder: Path, rows: dict[str, PreviewRows], model_cfg: ModelConfig, device: torch.device,
                 keep: int):
        self.folder, self.rows, self.model_cfg, self.device, self.keep = folder, rows, model_cfg, device, keep
        folder.mkdir(parents=True, exist_ok=True)

    def steps(self) -> list[int]:
        """Steps of the previews on disk, ascending."""
        found = (_NAME.fullmatch(p.name) for p in self.folder.glob("step_*.png"))
        return sorted(int(m.group(1)) for m in found if m)

    def drop_after(self, step: int) -> None:
        """Remove previews past `step`: a fresh run (0) starts with none, a resumed run drops those
        written after its checkpoint (they are drawn again, identically, when the run gets there)."""
        for s in self.steps():
            if s > step:
                (self.folder / preview_name(s)).unlink(missing_ok=True)

    def write(self, nets: Networks, step: int) -> Preview:
        """Draw and write the preview of `step` (atomically), then prune old ones."""
        picture, maps = draw(nets, self.model_cfg, self.rows, self.device)
        path = self.folder / preview_name(step)
        save_pil(picture, path)
        self._prune()
        tensor = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).float().div_(255)
        return Preview(path, tensor, maps)

    def _prune(self) -> None:
        steps = self.steps()
        if self.keep and len(steps) > self.keep + 1:
            for s in steps[1:-self.keep]:
                (self.folder / preview_name(s)).unlink(missing_ok=True)
