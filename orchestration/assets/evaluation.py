"""Evaluation assets (group ``evaluation``): KID scores and attention galleries of the trained model.

Both are made by one run of the DVC ``evaluate`` stage (`dvc repro evaluate`), exactly as the
data and the model are made by their stages, so dvc.lock is the one authority for the evaluation
too: `dvc status` stays clean after Dagster evaluates, and an evaluation run from a shell is the
one Dagster shows (the dvc.lock sensor records it). The assets report what the stage wrote
(eval/metrics.json, eval/gallery/) with the model hash and the data versions from dvc.lock and
the model's lineage.json, so any score traces back to the data it came from. Both re-materialize
when the model or the data change (AutomationCondition.eager, evaluated by the sensor in
orchestration/schedules.py) and on the re-evaluation schedule, which forces the stage to run
(`dvc repro --force`): its inputs are unchanged, but what is outside them (Inception weights
that have since appeared in torch hub's cache, say) is looked at again.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from orchestration.assets.data import VALIDATED_MANIFEST
from orchestration.assets.training import GPU_POOL, K8S_GPU_TAGS, MODEL, TRAIN_STAGE, trained_model
from orchestration.dvc_resource import DvcCli
from orchestration.provenance import Recorded, definition_code_version
from orchestration.tables import table
from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.core.fileio import json_digest
from spagan.data.preview import markdown_image
from spagan.evaluation.masked_report import LEGEND as MASKED_LEGEND
from spagan.evaluation.masked_report import masked_flat, masked_line, masked_rows
from spagan.evaluation.report import (
    DIRECTIONS,
    METRICS,
    METRICS_NAME,
    REFERENCE_LEGEND,
    SCORE_KEYS,
    cell,
    kid_features,
    kid_sample_text,
    kid_text,
    metric_value,
    report_rows,
)
from spagan.lineage.dvcfiles import read_stage_lock
from spagan.lineage.record import locked_model_lineage
from spagan.lineage.stage_version import locked_code_version

SCORES = dg.AssetKey("evaluation_scores")
GALLERIES = dg.AssetKey("attention_galleries")
EVAL_STAGE = "evaluate"
EVAL_DIR = "eval"  # the stage's output folder, below the repo: metrics.json and gallery/{a2b,b2a}.png
EVAL_METRICS = f"{EVAL_DIR}/{METRICS_NAME}"  # as dvc.lock names it
# Inception features by content hash, below the DVC repo, passed to the `evaluate` stage and the
# ablation job (--cache-dir runs/eval_feature_cache): a re-evaluation of unchanged images computes nothing.
FEATURE_CACHE = "runs/eval_feature_cache"
GALLERY_SIDE = 384  # px: longest side of the inline thumbnails
_EAGER = dg.AutomationCondition.eager()  # model or test data updated -> evaluate again
_EVAL_CODE = definition_code_version(EVAL_STAGE)


def score_metadata(metrics: dict[str, Any]) -> dict[str, Any]:
    """Flat metadata per direction (`a2b_kid_x100`, `a2b_success_share`, ...) plus the score table
    (metric | a2b | b2a, each cell "value [input as output; counterpart as output]") as table metadata."""
    meta: dict[str, Any] = {}
    for d in DIRECTIONS:
        kid = metrics[d]["kid_x100"]
        if "mean" in kid:
            meta[f"{d}_kid_x100"] = float(kid["mean"])
            meta[f"{d}_kid_x100_std"] = float(kid["std"])
            # how it was sampled (subsets, subset size, image counts, a clipped size said), and with
            # which Inception: the regression check compares only KIDs whose sampling text is equal
            meta[f"{d}_kid_x100_sample"] = f"{kid_sample_text(kid) or 'not recorded'}; {kid_features(metrics)}"
        else:
            meta[f"{d}_kid_x100"] = kid_text(kid, reason=True)
        for key in SCORE_KEYS:
            if (value := metric_value(metrics, d, key)) is not None:
                meta[f"{d}_{key}"] = value
    rows = pd.DataFrame(report_rows(metrics), columns=["metric", *DIRECTIONS])
    meta["scores"] = table(rows, schema=dg.TableSchema(columns=[
        dg.TableColumn("metric", "string"),
        *(dg.TableColumn(d, "string", description=REFERENCE_LEGEND) for d in DIRECTIONS)]))
    if masked := masked_rows(metrics):  # a test split with real masks (testA_mask/): its own table
        meta.update(masked_flat(metrics))
        meta["real_masks"] = table(pd.DataFrame(masked, columns=["metric", *DIRECTIONS]), schema=dg.TableSchema(
            columns=[dg.TableColumn("metric", "string"),
                     *(dg.TableColumn(d, "string", description=MASKED_LEGEND) for d in DIRECTIONS)]))
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
        masked = masked_line(metrics, d)  # real masks (testA_mask/): attention and change inside vs outside
        text = (f"**{m['source']} -> {m['target']}**: KID x100 {kid_text(m['kid_x100'], reason=True)}; {scores}\n\n"
                + (f"{masked}\n\n" if masked else "")
                + "columns: input | attention overlay | translation | reconstruction\n\n"
                + markdown_image(path, f"{d} gallery", GALLERY_SIDE))
        meta[d] = dg.MetadataValue.md(text)
        meta[f"{d}_file"] = dg.MetadataValue.path(str(path))
        meta[f"{d}_images"] = dg.MetadataValue.json(m["gallery_files"])
    return meta


def trace_metadata(facts: dict[str, Any], metrics: dict[str, Any], eval_digest: str,
                   eval_lock: dict[str, Any]) -> dict[str, Any]:
    """Model and data versions the scores were computed on (dvc.lock + lineage.json + summary.json),
    and the md5s dvc.lock recorded for the evaluation's own outputs."""
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
        "metrics_md5": eval_lock["outs"].get(EVAL_METRICS, "unknown"),
        "gallery_md5": eval_lock["outs"].get(f"{EVAL_DIR}/gallery", "unknown"),
    }


def evaluation_materializations(repo: Path, eval_lock: dict[str, Any] | None = None) -> list[Recorded]:
    """Both evaluation assets as the DVC `evaluate` stage wrote them and dvc.lock recorded them
    (`eval_lock`: that stage's entry, when the caller already read it), with their provenance (the
    stage's locked code version, the model and the test data version evaluated); SpaganError when
    the lock and the files disagree (scores are never reported for a model or data they were not
    computed on)."""
    facts = locked_model_lineage(repo, TRAIN_STAGE)
    if facts["problems"]:
        raise SpaganError("the model folder does not match dvc.lock: " + "; ".join(facts["problems"]))
    eval_lock = eval_lock or read_stage_lock(repo / "dvc.lock", EVAL_STAGE)
    evaluated_md5 = eval_lock["deps"].get(facts["model_dir"])
    if evaluated_md5 != facts["model_md5"]:
        raise SpaganError(f"dvc.lock: stage {EVAL_STAGE!r} evaluated {facts['model_dir']} {evaluated_md5}, but the "
                          f"{TRAIN_STAGE!r} stage's model is {facts['model_md5']} (run `dvc repro {EVAL_STAGE}`)")
    out = repo / EVAL_DIR
    metrics = json.loads((repo / EVAL_METRICS).read_text(encoding="utf-8"))
    if metrics["checkpoint"]["sha256"] != facts["lineage"]["model"]["sha256"]:
        raise SpaganError(f"{repo / EVAL_METRICS}: the evaluated checkpoint is not the one lineage.json describes")
    params = load_config(repo / "params.yaml")
    trace = trace_metadata(facts, metrics, params.digest("eval"), eval_lock)
    version = json_digest(trace)
    scores = {**score_metadata(metrics), **trace, "metrics_file": dg.MetadataValue.path(str(repo / EVAL_METRICS)),
              "feature_cache": dg.MetadataValue.json(metrics["run"]["feature_cache"] or {"used": False}),
              "seconds": metrics["run"]["seconds"]}
    code = locked_code_version(repo, EVAL_STAGE)
    inputs = {MODEL: facts["version"], VALIDATED_MANIFEST: metrics["data"]["data_version"] or "unknown"}
    return [Recorded(SCORES, scores, version, code, inputs),
            Recorded(GALLERIES, {**gallery_metadata(metrics, out), **trace}, version, code, inputs)]


class EvaluationConfig(dg.Config):
    """How the evaluation is run."""

    # Run the DVC `evaluate` stage even when its inputs are unchanged (the re-evaluation schedule sets
    # it); otherwise DVC skips an up-to-date stage and the assets report the evaluation dvc.lock holds.
    force: bool = False


@dg.multi_asset(
    name="evaluation",
    pool=GPU_POOL,  # it runs the networks on the accelerator, like training
    op_tags=K8S_GPU_TAGS,
    specs=[
        dg.AssetSpec(SCORES, group_name="evaluation", deps=[trained_model, VALIDATED_MANIFEST],
                     kinds={"dvc", "pytorch"}, code_version=_EVAL_CODE,
                     automation_condition=_EAGER,
                     description="KID x100 per direction (or why not, with the fix), attention localisation, "
                                 "background preservation and translation success on the test images"),
        dg.AssetSpec(GALLERIES, group_name="evaluation", deps=[trained_model, VALIDATED_MANIFEST],
                     kinds={"dvc", "pytorch"}, code_version=_EVAL_CODE,
                     automation_condition=_EAGER,
                     description="input | attention overlay | translation | reconstruction for a seeded sample "
                                 "of test images per direction"),
    ],
)
def evaluation(context: dg.AssetExecutionContext, config: EvaluationConfig, dvc: DvcCli):
    """`dvc repro evaluate` (skipped by DVC when up to date, unless forced), then what it wrote."""
    try:
        read_stage_lock(dvc.root() / "dvc.lock", TRAIN_STAGE)
    except SpaganError as exc:
        raise dg.Failure(description=f"no DVC-trained model to evaluate: {exc}") from None
    dvc.repro(EVAL_STAGE, context.log, force=config.force)
    try:
        results = evaluation_materializations(dvc.root())
    except SpaganError as exc:
        raise dg.Failure(description=str(exc)) from None
    scores = results[0].metadata
    context.log.info(f"model {scores['model_sha256'][:16]} on data {scores['evaluated_data_version']}: "
                     f"KID x100 a2b {scores['a2b_kid_x100']}")
    for recorded in results:
        yield recorded.result()
