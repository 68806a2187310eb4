"""The evaluation report's names and rows, without torch: the metric labels, the directions and
the file names that `spagan evaluate`, the ablation table and the Dagster evaluation assets all
show, so each is written once and shown the same way everywhere."""

import math
from typing import Any

from spagan.core.layout import CHECKPOINT_NAME, DIRECTIONS  # noqa: F401  (re-exported: the report's names)

METRICS_NAME = "metrics.json"  # evaluate's scores (and a training run's summary, in its own folder)

# (metrics.json key, label, which way is better), in report order
METRICS = (
    ("kid_x100", "KID x100", "lower"),
    ("success_share", "classified as target", "higher"),
    ("attention_in_mask", "attention in mask", "higher"),
    ("attention_auc", "attention ROC AUC", "higher"),
    ("background_l1", "background L1 [0,1]", "lower"),
)
SCORE_KEYS = tuple(key for key, _, _ in METRICS if key != "kid_x100")  # plain numbers (KID is a dict)


def metric_value(metrics: dict[str, Any], direction: str, key: str) -> float | None:
    """One number of an evaluation (KID: the x100 mean); None when it was not computed or is NaN."""
    value = metrics[direction].get(key)
    if key == "kid_x100":
        value = value.get("mean") if isinstance(value, dict) else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def kid_text(kid: dict[str, Any], *, reason: bool = False) -> str:
    """`1.234 +/- 0.456`, or `unavailable` (with the reason and the fix when asked): never a made-up number."""
    if "mean" in kid:
        return f"{kid['mean']:.3f} +/- {kid['std']:.3f}"
    if not reason:
        return "unavailable"
    return f"unavailable: {kid.get('reason', 'not computed')}; fix: {kid.get('fix', '-')}"


def cell(value: Any) -> str:
    """A table cell: '-' for a missing number, 3 decimals for a float."""
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def report_rows(metrics: dict[str, Any]) -> list[tuple[str, ...]]:
    """(label, a2b, b2a) text for every metric of one evaluation."""
    rows = []
    for key, label, _ in METRICS:
        if key == "kid_x100":
            rows.append((label, *(kid_text(metrics[d][key]) for d in DIRECTIONS)))
        else:
            rows.append((label, *(cell(metric_value(metrics, d, key)) for d in DIRECTIONS)))
    return rows
