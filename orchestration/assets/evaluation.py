"""Evaluation assets (group ``evaluation``): KID scores and attention galleries of the trained model.

One call of spagan.evaluate.evaluate (the function the DVC ``evaluate`` stage runs too) on the
validated test data materializes both assets. Each records the model hash and the data versions
from dvc.lock and the model's lineage.json, so any score traces back to the data it came from.
Both re-materialize when the model or the data change (AutomationCondition.eager, evaluated by
the sensor in orchestration/schedules.py) and on the re-evaluation schedule.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.assets.data import VALIDATED_MANIFEST
from orchestration.assets.training import TRAIN_STAGE, trained_model
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.config import load_config
from spagan.errors import SpaganError
from spagan.data.preview import markdown_image
from spagan.lineage import locked_model_lineage
from spagan.report import DIRECTIONS, METRICS, METRICS_NAME, SCORE_KEYS, cell, kid_text, metric_value, report_rows
from spagan.fileio import json_digest

SCORES = dg.AssetKey("evaluation_scores")
GALLERIES = dg.AssetKey("attention_galleries")
EVAL_DIR = "evaluation"  # below the data root: metrics.json and gallery/{a2b,b2a}.png
# Inception features by content hash, below the DVC repo and shared with the DVC `evaluate` stage
# (--cache-dir runs/eval_feature_cache): a re-evaluation of unchanged images computes nothing.
FEATURE_CACHE = "runs/eval_feature_cache"
GALLERY_SIDE = 384  # px: longest side of the inline thumbnails
_EAGER = dg.AutomationCondition.eager()  # model or test data updated -> evaluate again


def score_metadata(metrics: dict[str, Any]) -> dict[str, Any]:
    """Flat metadata per direction (`a2b_kid_x100`, `a2b_success_share`, ...) plus a markdown table."""
    meta: dict[str, Any] = {}
    for d in DIRECTIONS:
        kid = metrics[d]["kid_x100"]
        if "mean" in kid:
            meta[f"{d}_kid_x100"] = float(kid["mean"])
            meta[f"{d}_kid_x100_std"] = float(kid["std"])
        else:
            meta[f"{d}_kid_x100"] = kid_text(kid, reason=True)
        for key in SCORE_KEYS:
            if (value := metric_value(metrics, d, key)) is not None:
                meta[f"{d}_{key}"] = value
    rows = ["| metric | " + " | ".join(DIRECTIONS) + " |", "|---|---|---|"]
    rows += ["| " + " | ".join(row) + " |" for row in report_rows(metrics)]
    meta["scores"] = dg.MetadataValue.md("\n".join(rows))
    return meta


def gallery_metadata(metrics: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Per direction: the gallery inline (base64 markdown) with its scores, and the PNG's path."""
    meta: dict[str, Any] = {}
    for d in DIRECTIONS:
        m = metrics[d]
        if not m.get("gallery"):
            continue
        path = out_dir / m["gallery"]
        scores = ", ".join(f"{label} {cell(v)}" for key, label, _ in METRICS
                           if key in SCORE_KEYS and (v := metric_value(metrics, d, key)) is not None)
        text = (f"**{m['source']} -> {m['target']}**: KID x100 {kid_text(m['kid_x100'], reason=True)}; {scores}\n\n"
                f"columns: input | attention overlay | translation | reconstruction\n\n"
                + markdown_image(path, f"{d} gallery", GALLERY_SIDE))
        meta[d] = dg.MetadataValue.md(text)
        meta[f"{d}_file"] = dg.MetadataValue.path(str(path))
        meta[f"{d}_images"] = dg.MetadataValue.json(m["gallery_files"])
    return meta


def trace_metadata(facts: dict[str, Any], metrics: dict[str, Any], eval_digest: str) -> dict[str, Any]:
    """Model and data versions the scores were computed on (dvc.lock + lineage.json + summary.json)."""
    lin, lock = facts["lineage"], facts["lock"]
    source = lin["data"].get("source") or {}
    return {
        "source": source.get("path") or "demo domains",
        "source_md5": source.get("md5") or "unknown",
        "model_sha256": lin["model"]["sha256"],
        "model_md5": facts["model_md5"],  # dvc.lock's hash of the model folder
        "model_version": facts["version"],  # the trained_model asset's data version
        "trained_on_data_version": lin["data"]["data_version"],
        "manifest_md5": lock["deps"].get(lin["data"]["manifest"]),
        "prepared_md5": lock["deps"].get(lin["data"]["prepared"]),
        "evaluated_data_version": metrics["data"]["data_version"] or "unknown",
        "git_commit": lin["code"].get("commit") or "unknown",
        "eval_params_digest": eval_digest,
    }


@dg.multi_asset(
    name="evaluation",
    specs=[
        dg.AssetSpec(SCORES, group_name="evaluation", deps=[trained_model, VALIDATED_MANIFEST], kinds={"pytorch"},
                     automation_condition=_EAGER,
                     description="KID x100 per direction (or why not, with the fix), attention localisation, "
                                 "background preservation and translation success on the test images"),
        dg.AssetSpec(GALLERIES, group_name="evaluation", deps=[trained_model, VALIDATED_MANIFEST], kinds={"pytorch"},
                     automation_condition=_EAGER,
                     description="input | attention overlay | translation | reconstruction for a seeded sample "
                                 "of test images per direction"),
    ],
)
def evaluation(context: dg.AssetExecutionContext, data_paths: DataPaths, dvc: DvcCli):
    """Score the model dvc.lock names on the prepared test data (spagan.evaluate.evaluate)."""
    from spagan.evaluate import evaluate  # torch: imported when evaluating only

    params = load_config(data_paths.params_path())
    try:
        facts = locked_model_lineage(dvc.root(), TRAIN_STAGE)
    except SpaganError as exc:
        raise dg.Failure(description=f"no DVC-trained model to evaluate: {exc}") from None
    if facts["problems"]:
        raise dg.Failure(description="the model folder does not match dvc.lock: " + "; ".join(facts["problems"]))
    out = data_paths.inside(EVAL_DIR)
    metrics = evaluate(params.eval, dvc.root() / facts["model_dir"], data_paths.inside("prepared"), out,
                       cache_dir=dvc.root() / FEATURE_CACHE)
    if metrics["checkpoint"]["sha256"] != facts["lineage"]["model"]["sha256"]:
        raise dg.Failure(description="the evaluated checkpoint is not the one lineage.json describes")
    trace = trace_metadata(facts, metrics, params.digest("eval"))
    version = json_digest(trace)
    context.log.info(f"evaluated model {trace['model_sha256'][:16]} on data {trace['evaluated_data_version']}: "
                     f"KID x100 a2b {kid_text(metrics['a2b']['kid_x100'], reason=True)}")
    yield dg.MaterializeResult(asset_key=SCORES, data_version=dg.DataVersion(version), metadata={
        **score_metadata(metrics), **trace, "metrics_file": dg.MetadataValue.path(str(out / METRICS_NAME)),
        "feature_cache": dg.MetadataValue.json(metrics["run"]["feature_cache"] or {"used": False}),
        "seconds": metrics["run"]["seconds"]})
    yield dg.MaterializeResult(asset_key=GALLERIES, data_version=dg.DataVersion(version),
                               metadata={**gallery_metadata(metrics, out), **trace})
