"""Side-by-side gallery of several models on the same real photos: input, then per model its source
discriminator's attention overlay and its translation (issue 30, docs/fidelity.md).

  .venv/bin/python benchmarks/side_by_side.py --model SPA-GAN=runs/a/checkpoint.pt \\
      --model CycleGAN=runs/b/checkpoint.pt --images ../shared/data/weizmann_horses/images \\
      --direction a2b --n 6 --out docs/fidelity/h2z_side_by_side.png

Each photo is scaled so its longer side is the first model's training size (aspect kept), as
`spagan evaluate` does. A model trained without attention (CycleGAN) still has a discriminator:
its map is shown as that D computes it (the post-hoc reading), and its translation is the plain,
unblended one, so the columns compare what each model does, and where each D looks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torchvision.utils import make_grid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.core.grid import PADDING, letterbox, overlay  # noqa: E402
from spagan.core.imageio import atomic_write_bytes, list_images, load_image_fitted, tensor_to_pil  # noqa: E402
from spagan.inference.translator import Translator  # noqa: E402


def side_by_side(models: dict[str, Path], images: list[Path], direction: str) -> torch.Tensor:
    """Grid [3, H, W] in [-1, 1]: one row per image: input | (attention, translation) per model."""
    plain = {name: Translator.from_checkpoint(path, device="cpu") for name, path in models.items()}
    looks = {name: Translator.from_checkpoint(path, device="cpu", post_hoc_blend=True) for name, path in models.items()}
    size = next(iter(plain.values())).image_size
    tiles = []
    for path in images:
        x = load_image_fitted(path, size)
        tiles.append(x)
        for name in models:
            fake = plain[name].run(x[None], direction, reconstruct=False).fake[0].float().cpu()
            attention = looks[name].run(x[None], direction, reconstruct=False).attention[0].float().cpu()
            tiles += [overlay(x, attention), fake]
    height, width = max(t.shape[-2] for t in tiles), max(t.shape[-1] for t in tiles)
    tiles = [t if t.shape[-2:] == (height, width) else letterbox(t, height, width) for t in tiles]
    return make_grid(torch.stack(tiles), nrow=1 + 2 * len(models), padding=PADDING, pad_value=1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="NAME=PATH",
                   help="a model (checkpoint.pt, model.safetensors or a model folder); repeat, in column order")
    p.add_argument("--images", required=True, type=Path, help="folder of source-domain photos")
    p.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    p.add_argument("--n", type=int, default=6, help="the first N photos (sorted)")
    p.add_argument("--skip", type=int, default=0, help="skip the first N photos")
    p.add_argument("--zoom", type=int, default=3, help="enlarge the picture this many times (nearest neighbour)")
    p.add_argument("--out", required=True, type=Path, help="PNG to write")
    args = p.parse_args(argv)
    models = dict(m.split("=", 1) for m in args.model)
    images = list_images(args.images)[args.skip:args.skip + args.n]
    grid = side_by_side({k: Path(v) for k, v in models.items()}, images, args.direction)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    picture = tensor_to_pil(grid)
    picture = picture.resize((picture.width * args.zoom, picture.height * args.zoom), resample=0)  # 0: nearest
    picture.save(buf, format="PNG")
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"{args.out}: {len(images)} photos; columns: input | " +
          " | ".join(f"{n} attention, {n} translation" for n in models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
