"""Side-by-side gallery of several models on the same real photos: input, then per model its source
discriminator's attention overlay and its translation (issue 30, docs/fidelity.md); the picture is
made by spagan.inference.side_by_side, as the Dagster asset ``side_by_side_gallery`` makes it.

  .venv/bin/python benchmarks/side_by_side.py --model SPA-GAN=runs/a/checkpoint.pt \\
      --model CycleGAN=runs/b/checkpoint.pt --images ../shared/data/weizmann_horses/images \\
      --direction a2b --n 6 --out docs/fidelity/h2z_side_by_side.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.inference.side_by_side import write_side_by_side  # noqa: E402


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
    models = {name: Path(path) for name, path in (m.split("=", 1) for m in args.model)}
    shown = write_side_by_side(models, args.images, args.direction, args.out, n=args.n, skip=args.skip, zoom=args.zoom)
    print(f"{shown.path}: {len(shown.images)} photos; columns: " + " | ".join(shown.columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
