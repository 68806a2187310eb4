"""Asset check of the evaluation group: no regression against the previous evaluation.

The previous evaluation is the materialization of ``evaluation_scores`` before the latest one,
read from the Dagster instance; thresholds come from params (eval.regression_threshold for KID
x100, eval.regression_share_drop for the share of translations classified as the target domain,
eval.regression_object_drop for the object translation of the offline yardstick: what the check
compares when KID is unavailable, as on an offline machine).
"""

from typing import Any

import dagster as dg

from orchestration.assets.evaluation import DIRECTIONS, SCORES
from orchestration.resources import DataPaths
from spagan.config import load_config


def _num(meta: dict[str, Any], key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def find_regressions(previous: dict[str, Any], current: dict[str, Any], kid_threshold: float,
                     share_drop: float, object_drop: float = 0.1) -> tuple[list[str], dict[str, float]]:
    """Compare two evaluations' metadata values ({"a2b_kid_x100": 1.2, "a2b_success_share": 0.9, ...}).

    Returns (problems, deltas): a problem for KID x100 rising by more than kid_threshold, the
    success share falling by more than share_drop, or the object translation (the offline
    yardstick, where masks exist) falling by more than object_drop, in either direction; deltas
    (current minus previous) for every score both evaluations have.
    """
    problems, deltas = [], {}
    for d in DIRECTIONS:
        for key, limit, worse in ((f"{d}_kid_x100", kid_threshold, 1.0), (f"{d}_success_share", share_drop, -1.0),
                                  (f"{d}_object_translation", object_drop, -1.0)):
            before, now = _num(previous, key), _num(current, key)
            if before is None or now is None:
                continue
            deltas[key] = now - before
            if worse * (now - before) > limit:
                problems.append(f"{key}: {before:.3f} -> {now:.3f} (allowed change {limit:g})")
    return problems, deltas


@dg.asset_check(asset=SCORES, description="scores no worse than the previous evaluation (thresholds in params)")
def no_regression(context: dg.AssetCheckExecutionContext, data_paths: DataPaths) -> dg.AssetCheckResult:
    """The latest evaluation against the one before it: KID x100 and success share per direction."""
    cfg = load_config(data_paths.params_path()).eval
    records = context.instance.fetch_materializations(SCORES, limit=2).records
    metas = [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]
    if len(metas) < 2:
        return dg.AssetCheckResult(passed=True, metadata={"compared_with": "nothing (first evaluation)"})
    current, previous = metas
    problems, deltas = find_regressions(previous, current, cfg.regression_threshold, cfg.regression_share_drop,
                                        cfg.regression_object_drop)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "compared_with": f"run {records[1].run_id}",
            "previous_model_sha256": str(previous.get("model_sha256", "unknown")),
            "current_model_sha256": str(current.get("model_sha256", "unknown")),
            "deltas": dg.MetadataValue.json(deltas),
            "regressions": dg.MetadataValue.json(problems),
            "kid_threshold": cfg.regression_threshold,
            "share_drop_threshold": cfg.regression_share_drop,
            "object_drop_threshold": cfg.regression_object_drop,
        },
    )
