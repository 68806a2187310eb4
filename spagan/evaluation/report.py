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
    ("offline_mmd_x100", "hand-made feature MMD x100 (not KID)", "lower"),
    ("object_translation", "object translation (0 input, 1 counterpart)", "higher"),
    ("object_colour", "object colour", "higher"),
    ("object_structure", "object structure", "higher"),
    ("object_domain_probability", "object P(target), calibrated", "higher"),
    ("object_domain_share", "object classified as target", "higher"),
    ("success_share", "whole image classified as target", "higher"),
    ("learned_domain_share", "classified as target, learned CNN (train split)", "higher"),
    ("learned_domain_probability", "P(target), learned CNN, calibrated", "higher"),
    ("learned_mmd_x100", "learned-feature MMD x100 (train-split CNN; not KID)", "lower"),
    ("attention_in_mask", "attention in mask", "higher"),
    ("attention_auc", "attention ROC AUC", "higher"),
    ("background_l1", "background L1 [0,1]", "lower"),
    ("background_l1_generator", "background L1, generator before blend", "lower"),
)
SCORE_KEYS = tuple(key for key, _, _ in METRICS if key != "kid_x100")  # numbers (the MMD: its mean)
# The reference rows every evaluation computes beside the translation (spagan.evaluation.yardstick)
REFERENCES = ("input_as_output", "counterpart_as_output")
# ... and the constant outputs, printed after them where computed (spagan.evaluation.do_nothing)
CONSTANT_REFERENCES = ("constant_grey", "constant_mean")
REFERENCE_LEGEND = ("[input as output; counterpart as output; constant grey; constant target mean colour]: the "
                    "scale every yardstick score reads against; NOT QUALITY: a do-nothing row passes the measure")


def metric_value(metrics: dict[str, Any], direction: str, key: str, reference: str | None = None) -> float | None:
    """One number of an evaluation (KID and the MMD: the x100 mean), of the translation or of a
    reference row; None when it was not computed or is NaN."""
    scores = metrics[direction]
    if reference is not None:
        scores = scores.get("references", {}).get(reference, {})
    value = scores.get(key)
    if isinstance(value, dict):
        value = value.get("mean")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def kid_sample_text(kid: dict[str, Any]) -> str:
    """`100 subsets of 120 from 120 translations and 140 real; subset size clipped from 1000: subsets
    of 120 = all translations: ...`: how a KID was sampled ('' for a record from before it was kept)."""
    if "n_translations" not in kid:
        return ""
    text = (f"{kid['subsets']} subsets of {kid['subset_size']} from {kid['n_translations']} translations and "
            f"{kid['n_real']} real")
    if "note" in kid:
        text += f"; subset size clipped from {kid.get('subset_size_requested', '?')}: {kid['note']}"
    return text


def kid_features(metrics: dict[str, Any]) -> str:
    """`fid Inception 6726825d0af5f729`: which network an evaluation's KIDs were computed with."""
    feats = metrics.get("settings", {}).get("features") or {}
    if "graph" not in feats:
        return "Inception unknown"
    return f"{feats['graph']} Inception {feats.get('weights_sha256', '?')}"


def kid_text(kid: dict[str, Any], *, reason: bool = False) -> str:
    """`1.234 +/- 0.456 (100 subsets of 120 from ...)`: the number with how it was sampled
    (:func:`kid_sample_text`), or `unavailable` (with the reason and the fix when asked): never a
    made-up number."""
    if "mean" in kid:
        sample = kid_sample_text(kid)
        return f"{kid['mean']:.3f} +/- {kid['std']:.3f}" + (f" ({sample})" if sample else "")
    if not reason:
        return "unavailable"
    return f"unavailable: {kid.get('reason', 'not computed')}; fix: {kid.get('fix', '-')}"


def cell(value: Any) -> str:
    """A table cell: '-' for a missing number, 3 decimals for a float."""
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _with_references(metrics: dict[str, Any], direction: str, key: str) -> str:
    """`0.213 [0.000; 1.000; 0.000; 0.000]`: the translation's value and its reference rows, where
    computed (the constant rows only where the evaluation has them); `NOT QUALITY` after it where a
    do-nothing row passes the measure in this direction (spagan.evaluation.do_nothing)."""
    text = cell(metric_value(metrics, direction, key))
    constants = [r for r in CONSTANT_REFERENCES if r in metrics[direction].get("references", {})]
    refs = [metric_value(metrics, direction, key, r) for r in (*REFERENCES, *constants)]
    if not all(r is None for r in refs):
        text = f"{text} [{'; '.join(cell(r) for r in refs)}]"  # no "|": the cell sits in markdown tables
    flag = metrics[direction].get("do_nothing", {}).get(key)
    if flag is not None and not flag["fails_do_nothing"]:
        text += f" NOT QUALITY ({', '.join(flag['passing'])} passes)"
    return text


def report_rows(metrics: dict[str, Any]) -> list[tuple[str, ...]]:
    """(label, a2b, b2a) text for every metric of one evaluation (references in brackets, see
    REFERENCE_LEGEND); a metric no direction has (an evaluation from before it existed) is left out."""
    rows = []
    for key, label, _ in METRICS:
        if key == "kid_x100":
            rows.append((label, *(kid_text(metrics[d][key]) for d in DIRECTIONS)))
        elif any(key in metrics[d] for d in DIRECTIONS):
            rows.append((label, *(_with_references(metrics, d, key) for d in DIRECTIONS)))
    return rows
