"""Ablation: the paper's SPA-GAN, the same without the feature map loss, and the CycleGAN baseline.

`run_ablation(params, data_dir, out_dir)` trains every variant with the same params (the same
data folder, seed, image size and step budget; only the overrides of :data:`VARIANTS` differ),
evaluates each with spagan.evaluation.evaluate.evaluate, and writes one side-by-side table of every metric:

  out_dir/ablation.md      the table (markdown), with the command line that reproduces it
  out_dir/ablation.json    the same numbers, plus each variant's overrides, training result and metrics
  out_dir/<variant>/train  the run folder (checkpoint, logs, resolved config)
  out_dir/<variant>/eval   metrics.json and the galleries
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spagan.config import load_config, parse_overrides
from spagan.core.fileio import atomic_write_bytes
from spagan.evaluation.report import DIRECTIONS, METRICS, cell, metric_value

log = logging.getLogger(__name__)

# The paper's SPA-GAN, pinned whatever params.yaml ships (the demo's params may carry departures
# such as model.attention_blend): post-LeakyReLU map on every generator input, no blend.
PAPER: dict[str, Any] = {"model.attention": True, "model.attention_features": "post_act",
                         "model.attention_blend": False, "train.lambda_fm": 1.0}
# variant -> overrides on top of params (the paper's Table 4 / 5 ablations, and its baseline),
# each named for what it trains
VARIANTS: dict[str, dict[str, Any]] = {
    "spagan_paper": PAPER,
    "spagan_paper_no_fm": {**PAPER, "train.lambda_fm": 0.0},
    "cyclegan": {"model.attention": False, "train.lambda_fm": 0.0},
}
TABLE_NAME, JSON_NAME = "ablation.md", "ablation.json"
# (row label, direction, metric key, better), one row per metric and direction
ROWS = [(f"{label} {d}", d, key, better) for key, label, better in METRICS for d in DIRECTIONS]


def _flat_overrides(overrides: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Nested overrides back to {"section.key": value} so variants can be merged over them."""
    flat: dict[str, Any] = {}
    for section, values in parse_overrides(overrides).items():
        for key, value in values.items():
            flat[f"{section}.{key}"] = value
    return flat


def ablation_table(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows {"metric", "better", <variant>: value or None} for every metric and direction, then
    the training budget rows (steps, seconds) so the "same budget" claim can be read off."""
    rows = []
    for label, direction, key, better in ROWS:
        row: dict[str, Any] = {"metric": label, "better": better}
        for name, res in results.items():
            row[name] = metric_value(res["metrics"], direction, key)
        rows.append(row)
    for key, label in (("steps", "training steps"), ("seconds", "training seconds")):
        rows.append({"metric": label, "better": "", **{n: r["train"][key] for n, r in results.items()}})
    return rows


def table_markdown(rows: list[dict[str, Any]], variants: Sequence[str]) -> str:
    """The rows as a markdown table (numbers to 3 decimals, '-' where a metric is unavailable)."""
    lines = ["| metric | better | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    for row in rows:
        lines.append(f"| {row['metric']} | {row['better']} | " + " | ".join(cell(row[v]) for v in variants) + " |")
    return "\n".join(lines)


def run_ablation(
    params: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    variants: Mapping[str, Mapping[str, Any]] = VARIANTS,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    command: str = "",
    on_variant: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate every variant on `data_dir` with the same budget; write the table.

    overrides apply to every variant (e.g. train.max_steps=400), variants' own overrides on top.
    Each variant trains from scratch into out_dir/<variant>/train. `command` is recorded above the
    table; on_variant(name, result) is called after each variant. Returns the ablation.json dict.
    """
    from spagan.evaluation.evaluate import evaluate  # torch: imported when running only
    from spagan.training.loop import result_dict, train

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir else out_dir / "feature_cache"
    shared = _flat_overrides(overrides)
    results: dict[str, dict[str, Any]] = {}
    for name, extra in variants.items():
        cfg = load_config(params, {**shared, **extra})
        run_dir = out_dir / name
        shutil.rmtree(run_dir / "train", ignore_errors=True)  # same budget: every variant from scratch
        log.info("ablation %s: training (%s)", name, extra or "params as they are")
        trained = train(cfg, data_dir, run_dir / "train", device=device)
        metrics = evaluate(cfg.eval, trained.checkpoint, data_dir, run_dir / "eval", device=device, cache_dir=cache)
        results[name] = {"overrides": dict(extra), "train": result_dict(trained), "metrics": metrics,
                         "params_digest": cfg.digest("model", "train")}
        if on_variant is not None:
            on_variant(name, results[name])
    rows = ablation_table(results)
    data_versions = {r["metrics"]["data"]["data_version"] for r in results.values()}
    report = {"command": command, "params": str(params), "shared_overrides": shared, "data_dir": str(data_dir),
              "data_version": data_versions.pop() if len(data_versions) == 1 else None,
              "table": rows, "variants": results}
    header = [f"Ablation on {data_dir} (data version {report['data_version'] or 'unknown'})", ""]
    if command:
        header += ["```", command, "```", ""]
    text = "\n".join(header) + table_markdown(rows, list(results)) + "\n"
    atomic_write_bytes(out_dir / TABLE_NAME, text.encode())
    atomic_write_bytes(out_dir / JSON_NAME, (json.dumps(report, indent=2, allow_nan=False) + "\n").encode())
    log.info("ablation table written to %s", out_dir / TABLE_NAME)
    report["markdown"] = text
    return report
