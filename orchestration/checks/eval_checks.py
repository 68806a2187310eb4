"""Asset check of the evaluation group: no regression against another model on the same test data.

A regression is a model that scores worse than the model before it *on the same test data*. So
the check compares the latest evaluation (a materialization of ``evaluation_scores``) with the
most recent earlier evaluation of a **different model** (model_sha256) on the **same test-data
version** (evaluated_data_version); it never compares an evaluation with itself or with another
record of the same model on the same data (the sensor and a run both recording one DVC result, a
forced re-evaluation). The same model on a *changed* test set is reported beside it as
information: the data moved, the model did not, so it is no regression.

The scores compared are the offline yardstick's (object translation, the calibrated object
P(target), the hand-made feature MMD), the whole-image success share, and KID x100 when both
evaluations have it; every threshold is in params (eval.regression_*). The check runs after
every evaluation, also those the dvc.lock sensor records (automation condition `eager`).
"""

from typing import Any

import dagster as dg

from orchestration.assets.evaluation import DIRECTIONS, SCORES
from orchestration.resources import DataPaths
from spagan.config import EvalConfig, load_config

HISTORY = 100  # earlier evaluations looked through for a like-for-like baseline


def _num(meta: dict[str, Any], key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def regression_limits(cfg: EvalConfig) -> list[tuple[str, float, float, bool]]:
    """(score key, allowed change, worse sign, relative) per compared score: worse sign +1 where a
    rise is worse (KID, MMD), -1 where a fall is; relative: the limit is a fraction of the previous value."""
    return [("kid_x100", cfg.regression_threshold, 1.0, False),
            ("offline_mmd_x100", cfg.regression_distribution_rise, 1.0, True),
            ("object_translation", cfg.regression_object_drop, -1.0, False),
            ("object_domain_probability", cfg.regression_domain_drop, -1.0, False),
            ("success_share", cfg.regression_share_drop, -1.0, False)]


def find_regressions(previous: dict[str, Any], current: dict[str, Any],
                     limits: list[tuple[str, float, float, bool]]) -> tuple[list[str], dict[str, float]]:
    """Compare two evaluations' metadata values ({"a2b_kid_x100": 1.2, "a2b_object_translation": 0.6, ...}).

    Returns (problems, deltas): a problem for every score, in either direction, that got worse by
    more than its limit (see regression_limits); deltas (current minus previous) for every score
    both evaluations have (a text value, such as KID's "unavailable: ...", is skipped). A KID is
    compared only with a KID sampled alike with the same Inception (equal `<key>_sample` texts:
    subsets, subset size, image counts, weights): another network or sample size is another scale.
    """
    problems, deltas = [], {}
    for d in DIRECTIONS:
        for name, limit, worse, relative in limits:
            key = f"{d}_{name}"
            before, now = _num(previous, key), _num(current, key)
            if before is None or now is None or previous.get(f"{key}_sample") != current.get(f"{key}_sample"):
                continue
            deltas[key] = now - before
            allowed = limit * abs(before) if relative else limit
            if worse * (now - before) > allowed:
                how = f"{limit:g} x {abs(before):.3f}" if relative else f"{limit:g}"
                problems.append(f"{key}: {before:.3f} -> {now:.3f} (allowed change {how})")
    return problems, deltas


def pick_baselines(current: dict[str, Any], earlier: list[dict[str, Any]]
                   ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """From earlier evaluations (newest first): (the latest of a different model on the same test
    data: the regression baseline; the latest of the same model on different test data: information).
    Records of the same model on the same data (the evaluation itself, recorded again) are skipped."""
    model, data = current.get("model_sha256"), current.get("evaluated_data_version")
    baseline = next((m for m in earlier if m.get("evaluated_data_version") == data
                     and m.get("model_sha256") != model), None)
    moved = next((m for m in earlier if m.get("model_sha256") == model
                  and m.get("evaluated_data_version") != data), None)
    return baseline, moved


def _short(value: Any) -> str:
    return str(value or "unknown")[:16]


@dg.asset_check(asset=SCORES, automation_condition=dg.AutomationCondition.eager(),
                description="scores no worse than the previous evaluation of another model on the same test data")
def no_regression(context: dg.AssetCheckExecutionContext, data_paths: DataPaths) -> dg.AssetCheckResult:
    """The latest evaluation against the latest evaluation of a different model on the same test data."""
    cfg = load_config(data_paths.params_path()).eval
    records = context.instance.fetch_materializations(SCORES, limit=HISTORY).records
    if not records:
        return dg.AssetCheckResult(passed=False, description="cannot run: evaluation_scores has no materialization")
    metas = [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]
    current, earlier = metas[0], metas[1:]
    baseline, moved = pick_baselines(current, earlier)
    limits = regression_limits(cfg)
    meta: dict[str, Any] = {
        "current_model_sha256": str(current.get("model_sha256", "unknown")),
        "data_version": str(current.get("evaluated_data_version", "unknown")),
        "thresholds": dg.MetadataValue.json({name: limit for name, limit, _, _ in limits}),
    }
    if moved is not None:  # the same model on a changed test set: information, never a regression
        _, moved_deltas = find_regressions(moved, current, limits)
        meta["same_model_previous_data_version"] = str(moved.get("evaluated_data_version", "unknown"))
        meta["same_model_changed_data_deltas"] = dg.MetadataValue.json(moved_deltas)
    if baseline is None:
        meta["compared_with"] = "nothing: no evaluation of another model on this test data yet"
        return dg.AssetCheckResult(passed=True, metadata=meta, description=meta["compared_with"]
                                   + ("; the test data changed under this model (see same_model_changed_data_deltas)"
                                      if moved is not None else ""))
    problems, deltas = find_regressions(baseline, current, limits)
    meta.update({
        "compared_with": f"model {_short(baseline.get('model_sha256'))} on data {_short(meta['data_version'])}",
        "previous_model_sha256": str(baseline.get("model_sha256", "unknown")),
        "deltas": dg.MetadataValue.json(deltas),
        "regressions": dg.MetadataValue.json(problems),
    })
    return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.WARN,
                               description="; ".join(problems) or None, metadata=meta)
