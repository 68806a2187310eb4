"""The rule every quality measure must pass: do-nothing models score worse, in both directions.

Each evaluation scores, beside the translation, do-nothing reference rows (spagan.evaluation.
yardstick): the input returned unchanged (``input_as_output``), a constant mid-grey image
(``constant_grey``: what spagan.evaluation.baselines' zeroed generator outputs) and a constant
image of the target training set's mean colour (``constant_mean``: the hardest constant). A
measure *fails do-nothing* in a direction when every do-nothing row there scores strictly worse
than the translation and, for a measure with a pass mark (a share or a probability of the
target: 0.5), stays below the pass mark. Where a do-nothing row passes, the measure is not
reported as quality for that evaluation (report.py says so beside it). Pure Python: no torch.
"""

import math
from typing import Any

DO_NOTHING = ("input_as_output", "constant_grey", "constant_mean")
# measure -> (better: "higher" | "lower", pass mark a do-nothing row must stay on the bad side of, or None)
RULED = {
    "offline_mmd_x100": ("lower", None),
    "success_share": ("higher", 0.5),
    "object_translation": ("higher", None),
    "object_domain_probability": ("higher", 0.5),
    "object_domain_share": ("higher", 0.5),
    "learned_domain_share": ("higher", 0.5),
    "learned_domain_probability": ("higher", 0.5),
    "learned_mmd_x100": ("lower", None),
}


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("mean")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def fails_do_nothing(scores: dict[str, Any], key: str) -> dict[str, Any] | None:
    """{"fails_do_nothing": bool, "passing": [rows that pass]} for measure `key` of one direction's
    scores (the translation's flat keys, the do-nothing rows under "references"); None when the
    measure or every do-nothing row is missing."""
    better, mark = RULED[key]
    value = _number(scores.get(key))
    refs = {r: _number(scores.get("references", {}).get(r, {}).get(key)) for r in DO_NOTHING}
    refs = {r: v for r, v in refs.items() if v is not None}
    if value is None or not refs:
        return None
    passing = []
    for row, ref in refs.items():
        worse = ref < value if better == "higher" else ref > value
        below_mark = mark is None or ref < mark
        if not (worse and below_mark):
            passing.append(row)
    return {"fails_do_nothing": not passing, "passing": passing, "rows": sorted(refs)}


def do_nothing_flags(scores: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """fails_do_nothing of every ruled measure one direction's scores have."""
    out = {}
    for key in RULED:
        flag = fails_do_nothing(scores, key)
        if flag is not None:
            out[key] = flag
    return out


def is_quality(metrics: dict[str, Any], key: str, directions: tuple[str, ...] = ("a2b", "b2a")) -> bool | None:
    """True when `key` fails do-nothing in every direction of an evaluation, False when a do-nothing
    row passes it in one; None when no direction has the flag (an evaluation from before the rule)."""
    flags = [metrics[d].get("do_nothing", {}).get(key) for d in directions if d in metrics]
    flags = [f for f in flags if f is not None]
    if not flags:
        return None
    return all(f["fails_do_nothing"] for f in flags)
