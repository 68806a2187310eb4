"""The dvc.lock sensor: data, models and evaluations made by `dvc repro` from a shell appear in Dagster.

dvc.lock is the one authority for the data, the model and its evaluation. When it names outputs
that Dagster has not recorded (the latest materialization of the asset carries other lock md5s),
the sensor records a materialization of the assets built from the lock and the files, exactly as
a run of the assets would have reported them, without recomputing anything. A model trained from
a shell but not yet evaluated is recorded alone; the evaluation assets' eager automation then
sees it and runs the `evaluate` stage.
"""

import dagster as dg

from orchestration.assets.data_metadata import data_materializations, prepare_lock
from orchestration.assets.evaluation import EVAL_METRICS, EVAL_STAGE, SCORES, evaluation_materializations
from orchestration.assets.training import TRAIN_STAGE, model_materialization
from orchestration.dvc_resource import DvcCli
from spagan.core.errors import SpaganError
from spagan.lineage.dvcfiles import read_stage_lock

# dagster's tag for a materialization's data version (what MaterializeResult(data_version=...) sets)
DATA_VERSION_TAG = "dagster/data_version"
DATA_ASSETS = ("raw_images", "deduplicated_images", "validated_manifest")
MODEL = dg.AssetKey("trained_model")


def _recorded(instance: dg.DagsterInstance, key: dg.AssetKey, field: str) -> object:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(field)
    return None if value is None else value.value


def lock_events(instance: dg.DagsterInstance, dvc: DvcCli) -> tuple[list[dg.AssetMaterialization], list[str]]:
    """Materializations for what dvc.lock holds but Dagster has not recorded, and why some were skipped.
    Only the lock is read when nothing is new (the metadata, previews included, is built only then)."""
    events: list[dg.AssetMaterialization] = []
    skipped: list[str] = []
    repo = dvc.root()
    try:
        lock = prepare_lock(repo)
        if any(_recorded(instance, dg.AssetKey(n), "prepare_lock") != lock["signature"] for n in DATA_ASSETS):
            for name, metadata, version in data_materializations(repo, lock):
                events.append(dg.AssetMaterialization(name, metadata=metadata, tags={DATA_VERSION_TAG: version},
                                                      description="prepared by `dvc repro` (recorded from dvc.lock)"))
    except SpaganError as exc:
        skipped.append(f"data: {exc}")
    try:
        locked = read_stage_lock(repo / "dvc.lock", TRAIN_STAGE)["outs"]
        if _recorded(instance, MODEL, "model_md5") not in locked.values():
            metadata, version = model_materialization(repo)
            events.append(dg.AssetMaterialization(MODEL, metadata=metadata, tags={DATA_VERSION_TAG: version},
                                                  description="trained by `dvc repro` (recorded from dvc.lock)"))
    except SpaganError as exc:
        skipped.append(f"model: {exc}")
    try:
        eval_lock = read_stage_lock(repo / "dvc.lock", EVAL_STAGE)
        metrics_md5 = eval_lock["outs"].get(EVAL_METRICS)
        if metrics_md5 is not None and _recorded(instance, SCORES, "metrics_md5") != metrics_md5:
            for key, metadata, version in evaluation_materializations(repo, eval_lock):
                events.append(dg.AssetMaterialization(key, metadata=metadata, tags={DATA_VERSION_TAG: version},
                                                      description="evaluated by `dvc repro` (recorded from dvc.lock)"))
    except SpaganError as exc:
        skipped.append(f"evaluation: {exc}")
    return events, skipped


@dg.sensor(name="dvc_lock_sensor", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="record data and models that `dvc repro` made outside Dagster (from dvc.lock)")
def dvc_lock_sensor(context: dg.SensorEvaluationContext, dvc: DvcCli):
    """Report dvc.lock's data and model as materializations when Dagster has not seen them."""
    events, skipped = lock_events(context.instance, dvc)
    for reason in skipped:
        context.log.info(reason)
    if not events:
        return dg.SkipReason("Dagster has recorded what dvc.lock holds" + "".join(f"; {s}" for s in skipped))
    return dg.SensorResult(asset_events=events)
