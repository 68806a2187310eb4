"""The real-photo yardstick on horse2zebra: trained models against the do-nothing rows (issue 29, item 4).

Evaluates each given checkpoint with the same `evaluate` as `spagan evaluate` (no Inception, no
masks: the offline measures only) on a prepared horse2zebra folder, plus one real constant-
generator checkpoint (spagan.evaluation.baselines, the first model's last conv zeroed) as a check
that the built-in ``constant_grey`` row is what such a generator scores. Every evaluation carries
the do-nothing rows (input_as_output, constant_grey, constant_mean); they are written once.

For every measure and direction it also writes the *separation*: the trained model's margin over
the best do-nothing row (in the measure's better direction; for the MMDs divided by the model's
value so margins read as a share), and whether the measure fails every do-nothing row.

  .venv/bin/python benchmarks/real_yardstick.py --data /tmp/h2z_prepared/prepared \
      --model spagan=/work/studies/h2z_short/spagan/checkpoint.pt \
      --model cyclegan=/work/studies/h2z_short/cyclegan/checkpoint.pt \
      --out /tmp/real_yardstick --cache-dir /tmp/real_yardstick/cache \
      --json benchmarks/results/real_yardstick_h2z.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.core.fileio import atomic_write_bytes  # noqa: E402
from spagan.evaluation.do_nothing import DO_NOTHING, RULED  # noqa: E402
from spagan.evaluation.report import DIRECTIONS, metric_value  # noqa: E402

MEASURES = ("learned_domain_share", "learned_domain_probability", "learned_mmd_x100", "success_share",
            "offline_mmd_x100")


def rows_of(name: str, metrics: dict[str, Any], refs: bool) -> list[dict[str, Any]]:
    """The translation row (and the do-nothing rows when `refs`): {row, <measure>_<direction>: value}."""
    out = []
    for ref in (None, *(DO_NOTHING if refs else ())):
        row: dict[str, Any] = {"row": name if ref is None else ref}
        for key in MEASURES:
            for d in DIRECTIONS:
                row[f"{key}_{d}"] = metric_value(metrics, d, key, ref)
        out.append(row)
    return out


def separation(name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """Per measure and direction: the margin of the model over the best do-nothing row, and the flag."""
    out: dict[str, Any] = {}
    for key in MEASURES:
        for d in DIRECTIONS:
            value = metric_value(metrics, d, key)
            refs = [v for r in DO_NOTHING if (v := metric_value(metrics, d, key, r)) is not None]
            flag = metrics[d].get("do_nothing", {}).get(key)
            if value is None or not refs:
                continue
            if RULED[key][0] == "higher":
                margin = value - max(refs)
            else:
                margin = (min(refs) - value) / max(abs(value), 1e-9)
            out[f"{key}_{d}"] = {"margin": margin, "fails_do_nothing": None if flag is None
                                 else flag["fails_do_nothing"], "passing": None if flag is None else flag["passing"]}
    return {"model": name, **out}


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per row, a2b / b2a in each cell."""
    lines = ["| row | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    for r in rows:
        cells = [" / ".join("-" if r[f"{k}_{d}"] is None else f"{r[f'{k}_{d}']:.3f}" for d in DIRECTIONS)
                 for k in MEASURES]
        lines.append(f"| {r['row']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepared horse2zebra folder (trainA/ trainB/ testA/ testB/)")
    p.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT",
                   help="a trained model to score (repeatable); the first also gives the constant checkpoint")
    p.add_argument("--out", required=True, help="folder for each evaluation's metrics.json")
    p.add_argument("--cache-dir", default=None, help="the learned classifier's cache (default OUT/cache)")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", default=None, help="also write the report here")
    args = p.parse_args(argv)

    from spagan.config import load_config
    from spagan.evaluation.baselines import write_constant_checkpoint
    from spagan.evaluation.evaluate import evaluate
    from spagan.models.checkpoint import load_model_state, model_file

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache_dir) if args.cache_dir else out / "cache"
    # the offline measures only: no Inception download attempt, no gallery
    eval_cfg = load_config(args.params, ["eval.download_weights=false", "eval.gallery_size=0",
                                         *args.overrides]).eval
    models = dict(m.split("=", 1) for m in args.model)
    first = model_file(next(iter(models.values())))
    models["constant_checkpoint"] = str(write_constant_checkpoint(first, out / f"constant{first.suffix}"))
    rows: list[dict[str, Any]] = []
    separations, runs = [], {}
    for i, (name, ckpt) in enumerate(models.items()):
        t0 = time.perf_counter()
        metrics = evaluate(eval_cfg, Path(ckpt), Path(args.data), out / name, device="cpu", cache_dir=cache)
        state = load_model_state(model_file(ckpt))
        runs[name] = {"checkpoint": str(ckpt), "step": state.get("step"), "model": state["config"]["model"],
                      "train": {k: state["config"]["train"].get(k) for k in ("image_size", "load_size",
                                                                             "max_steps", "lambda_fm", "seed")},
                      "seconds": round(time.perf_counter() - t0, 1),
                      "learned_classifier": metrics["settings"]["learned_domain_classifier"],
                      "do_nothing": {d: metrics[d]["do_nothing"] for d in DIRECTIONS}}
        rows += rows_of(name, metrics, refs=i == 0)
        separations.append(separation(name, metrics))
    report = {"data": args.data, "rows": rows, "separation": separations, "runs": runs,
              "command": " ".join(sys.argv), "machine": f"{platform.machine()}, CPU, shared and loaded"}
    text = (json.dumps(report, indent=2) + "\n").encode()
    atomic_write_bytes(out / "real_yardstick.json", text)
    if args.json:
        atomic_write_bytes(Path(args.json), text)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
