"""Why does a trained model repaint the background? Statistics and pictures of one checkpoint.

For each direction, over the test images that have object masks:

- the source discriminator's attention map A(x) on object and background pixels,
- what the attended input A(x) * x removes from the background (mean |A(x) * x - x|),
- background L1 of the translation G(A(x) * x), of G(x) (the same generator fed the raw input:
  how much of the change the attenuation itself causes), and of A * G(A(x) * x) + (1 - A) * x,
- the background colour of inputs and translations (mean and spread across images: a background
  repainted with one domain average has a small spread),
- the target discriminator's map on the translation (what the cycle pass attenuates),

and a picture per direction: input | mask | A(x) | A(x)*x | G(A(x)*x) | error map | G(x).

  .venv/bin/python benchmarks/fidelity_diagnosis.py --checkpoint RUN/checkpoint.pt --data DATA/prepared \
      --out docs/fidelity/diagnosis_spagan --rows 6
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.core.fileio import atomic_write_bytes  # noqa: E402
from spagan.core.imageio import list_images, load_image, save_pil  # noqa: E402
from spagan.evaluation.metrics.masks import find_mask, load_mask  # noqa: E402
from spagan.inference.translator import Translator  # noqa: E402
from spagan.models import apply_attention, attended_translation, blend_output  # noqa: E402


def _bg_l1(real: torch.Tensor, fake: torch.Tensor, bg: torch.Tensor) -> float:
    """Mean |real - fake| over background pixels, on the [0, 1] scale (as evaluate reports it)."""
    return float((real - fake).abs()[:, :, bg].mean() / 2.0) if bg.any() else float("nan")


def _tile(t: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] (C = 3) or [0, 1] (C = 1) -> uint8 RGB array."""
    t = t.detach().float().cpu()
    if t.shape[0] == 1:
        arr = t.clamp(0, 1).repeat(3, 1, 1)
    else:
        arr = (t.clamp(-1, 1) + 1) / 2
    return (arr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def diagnose_direction(tr: Translator, data: Path, direction: str, rows: int) -> tuple[dict[str, Any], np.ndarray]:
    """Statistics (dict) and the picture (uint8 array) of one direction."""
    src, tgt = ("A", "B") if direction == "a2b" else ("B", "A")
    n = tr.nets
    gen, d_src, d_tgt = (n.G, n.D_A, n.D_B) if direction == "a2b" else (n.F, n.D_B, n.D_A)
    acc: dict[str, list[float]] = {k: [] for k in (
        "attention_object", "attention_background", "attention_background_p10", "attention_background_p90",
        "attended_input_removed_background", "background_l1", "background_l1_raw_input", "background_l1_blended",
        "object_l1", "target_attention_on_translation_object", "target_attention_on_translation_background")}
    bg_in, bg_out, pictures = [], [], []
    size = tr.image_size
    for path in list_images(data / f"test{src}"):
        mask_path = find_mask(data, f"test{src}", path)
        if mask_path is None:
            continue
        x = load_image(path, size).unsqueeze(0).to(tr.device)
        obj = torch.from_numpy(load_mask(mask_path, tuple(x.shape[-2:])).astype(bool))
        bg = ~obj
        with torch.no_grad():
            # the model's own path: CycleGAN (attention off) translates x as it is
            a = d_src.attention(x) if tr.cfg.model.attention else torch.ones_like(x[:, :1])
            xa = apply_attention(x, a)
            fake = attended_translation(gen, x, a, tr.cfg.model.attention_blend)  # the model's own translation
            fake_raw = gen(x)  # the same generator on the un-attended input (what A(x) * x changes)
            blend = blend_output(fake, x, a, blend=True)  # A * translation + (1 - A) * x
            a_tgt = d_tgt.attention(fake)
        a0, at0 = a[0, 0].cpu(), a_tgt[0, 0].cpu()
        acc["attention_object"].append(float(a0[obj].mean()))
        acc["attention_background"].append(float(a0[bg].mean()))
        acc["attention_background_p10"].append(float(a0[bg].quantile(0.1)))
        acc["attention_background_p90"].append(float(a0[bg].quantile(0.9)))
        acc["attended_input_removed_background"].append(_bg_l1(x.cpu(), xa.cpu(), bg))
        acc["background_l1"].append(_bg_l1(x.cpu(), fake.cpu(), bg))
        acc["background_l1_raw_input"].append(_bg_l1(x.cpu(), fake_raw.cpu(), bg))
        acc["background_l1_blended"].append(_bg_l1(x.cpu(), blend.cpu(), bg))
        acc["object_l1"].append(_bg_l1(x.cpu(), fake.cpu(), obj))
        acc["target_attention_on_translation_object"].append(float(at0[obj].mean()))
        acc["target_attention_on_translation_background"].append(float(at0[bg].mean()))
        bg_in.append(((x[0].cpu()[:, bg] + 1) / 2).mean(dim=1).numpy())
        bg_out.append(((fake[0].cpu()[:, bg] + 1) / 2).mean(dim=1).numpy())
        if len(pictures) < rows:
            err = ((fake - x).abs().mean(dim=1, keepdim=True) / 2)[0]
            mask_t = obj.float().unsqueeze(0)
            tiles = [x[0], mask_t, a[0], xa[0], fake[0], (err * 2).clamp(0, 1), fake_raw[0]]
            pictures.append(np.concatenate([_tile(t) for t in tiles], axis=1))
    stats: dict[str, Any] = {k: round(float(np.mean(v)), 4) for k, v in acc.items()}
    bg_in_a, bg_out_a = np.array(bg_in), np.array(bg_out)
    stats["background_colour_input_mean_rgb"] = [round(float(v), 3) for v in bg_in_a.mean(0)]
    stats["background_colour_translation_mean_rgb"] = [round(float(v), 3) for v in bg_out_a.mean(0)]
    # spread of the per-image background colour across images: a repaint with one average shrinks it
    stats["background_colour_input_spread"] = round(float(bg_in_a.std(0).mean()), 4)
    stats["background_colour_translation_spread"] = round(float(bg_out_a.std(0).mean()), 4)
    stats["images"] = len(bg_in)
    return stats, np.concatenate(pictures, axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="prepared folder with testA/ testB/ and their masks")
    p.add_argument("--out", required=True, help="folder for diagnosis.json and one PNG per direction")
    p.add_argument("--rows", type=int, default=6, help="images per picture")
    p.add_argument("--zoom", type=int, default=1, help="enlarge the pictures this many times (nearest neighbour)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tr = Translator.from_checkpoint(args.checkpoint, device="cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"checkpoint": args.checkpoint, "columns": [
        "input", "object mask", "A(x)", "A(x)*x", "G(A(x)*x)", "|G(A(x)*x) - x| (x2)", "G(x) (no attention)"]}
    from PIL import Image

    for direction in ("a2b", "b2a"):
        stats, picture = diagnose_direction(tr, Path(args.data), direction, args.rows)
        report[direction] = stats
        k = args.zoom
        save_pil(Image.fromarray(picture).resize((picture.shape[1] * k, picture.shape[0] * k), Image.NEAREST),
                 out / f"{direction}.png")
    atomic_write_bytes(out / "diagnosis.json", (json.dumps(report, indent=2) + "\n").encode())
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
