"""The yardstick against its do-nothing baselines, on one trained checkpoint (issue 21).

Evaluates, with the same `spagan evaluate` code and data:
  model              the checkpoint as trained
  model_post_hoc     its translations blended with the source D's map (no retraining; the same
                     as `model` for a checkpoint trained with the blend)
  constant           the same checkpoint with constant generators (last conv of G and F zeroed),
                     under the checkpoint's own reading
  constant_blend     constant generators blended (the composed output is the input dimmed where
                     the map is high), and constant_no_blend: the whole translation grey
and every evaluation's reference rows (input as output, counterpart as output). Writes
OUT/baselines.json and prints one markdown table (a2b / b2a per cell).

  .venv/bin/python benchmarks/yardstick_baselines.py --checkpoint models/spagan --data data/prepared \
      --out runs/yardstick --json benchmarks/results/yardstick_baselines.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.core.fileio import atomic_write_bytes  # noqa: E402
from spagan.evaluation.report import DIRECTIONS, metric_value  # noqa: E402

COLUMNS = ("object_translation", "object_colour", "object_structure", "object_domain_probability",
           "object_domain_share", "success_share", "offline_mmd_x100", "background_l1", "background_l1_generator",
           "attention_auc")


def rows_of(name: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluation's translation row and its reference rows, {row, <key>_<direction>: value}."""
    out = []
    for ref in (None, "input_as_output", "counterpart_as_output"):
        row: dict[str, Any] = {"row": name if ref is None else ref}
        for key in COLUMNS:
            for d in DIRECTIONS:
                row[f"{key}_{d}"] = metric_value(metrics, d, key, ref)
        out.append(row)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per row, a2b / b2a in each cell."""
    lines = ["| row | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [" / ".join("-" if r[f"{k}_{d}"] is None else f"{r[f'{k}_{d}']:.3f}" for d in DIRECTIONS)
                 for k in COLUMNS]
        lines.append(f"| {r['row']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt, model.safetensors or a model/run folder")
    p.add_argument("--data", required=True, help="prepared folder (masks and counterparts)")
    p.add_argument("--out", required=True)
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)

    from spagan.config import load_config
    from spagan.evaluation.baselines import write_constant_checkpoint
    from spagan.evaluation.evaluate import evaluate
    from spagan.models.checkpoint import load_model_state, model_file

    ckpt = model_file(args.checkpoint)  # a folder: its model.safetensors, or checkpoint.pt
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    eval_cfg = load_config(args.params).eval
    blends = bool(load_model_state(ckpt)["config"]["model"].get("attention_blend", False))
    other = "constant_no_blend" if blends else "constant_blend"
    runs = {
        "model": (ckpt, False),
        "model_post_hoc_blend": (ckpt, True),
        "constant": (write_constant_checkpoint(ckpt, out / f"constant{ckpt.suffix}"), False),
        other: (write_constant_checkpoint(ckpt, out / f"{other}{ckpt.suffix}", attention=True,
                                          attention_blend=not blends), False),
    }
    rows: list[dict[str, Any]] = []
    for name, (path, post_hoc) in runs.items():
        metrics = evaluate(eval_cfg, path, Path(args.data), out / name, device="cpu", post_hoc_blend=post_hoc)
        rows += rows_of(name, metrics)[: 3 if name == "model" else 1]  # the references once, from the model's
    text = table(rows)
    report = {"checkpoint": str(ckpt), "data": args.data, "rows": rows, "command": " ".join(sys.argv)}
    atomic_write_bytes(out / "baselines.json", (json.dumps(report, indent=2) + "\n").encode())
    if args.json:
        atomic_write_bytes(Path(args.json), (json.dumps(report, indent=2) + "\n").encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
