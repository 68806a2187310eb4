"""The dvc.lock sensor: data, models and evaluations made by `dvc repro` from a shell appear in Dagster.

dvc.lock is the one authority for the data, the model and its evaluation. When it names outputs
that Dagster has not recorded (the latest materialization of the asset carries other lock md5s),
the sensor records a materialization of the assets built from the lock and the files, exactly as
a run of the assets would have reported them, without recomputing anything. A model trained from
a shell but not yet evaluated is recorded alone; the evaluation assets' eager automation then
sees it and runs the `evaluate` stage.

Every recorded materialization carries the provenance dvc.lock gives it (orchestration.provenance:
the stage's locked code version and input data versions), so staleness in the UI is the same
whichever front door made it. The sensor also observes the raw source (``raw_source``: DVC's md5
of data/raw and data.source) on every tick, and the checks' automation conditions (eager) run the
data and regression checks on what it records: every version is checked, not only run outputs.
"""

import dagster as dg

from orchestration.assets.data import RAW_SOURCE, raw_source_metadata
from orchestration.assets.data_metadata import data_materializations, prepare_lock
from orchestration.assets.evaluation import EVAL_METRICS, EVAL_STAGE, SCORES, evaluation_materializations
from orchestration.assets.training import MODEL, TRAIN_STAGE, model_materialization
from orchestration.dvc_resource import DvcCli
from orchestration.provenance import DATA_VERSION_TAG, USER_PROVIDED_TAG
from spagan.core.errors import SpaganError
from spagan.lineage.dvcfiles import read_stage_lock
from spagan.lineage.stage_version import raw_source_signature, raw_source_version

DATA_ASSETS = ("raw_images", "deduplicated_images", "validated_manifest")


def _recorded(instance: dg.DagsterInstance, key: dg.AssetKey, field: str) -> object:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(field)
    return None if value is None else value.value


def _observed_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    records = instance.fetch_observations(key, limit=1).records
    return records[0].asset_observation.tags.get(DATA_VERSION_TAG) if records else None


# repo -> (signature, version): the sensor runs every 30 s in a long-lived code server, and a raw
# zip of several GB is re-hashed only when a file's size or modification time changed
_RAW_VERSIONS: dict[str, tuple[str, str]] = {}


def _raw_version(repo) -> str:
    signature = raw_source_signature(repo)
    cached = _RAW_VERSIONS.get(str(repo))
    if cached is None or cached[0] != signature:
        cached = (signature, raw_source_version(repo))
        _RAW_VERSIONS[str(repo)] = cached
    return cached[1]


def raw_source_event(instance: dg.DagsterInstance, repo) -> dg.AssetObservation | None:
    """An observation of the raw source when its version (DVC's md5 of data/raw and data.source)
    differs from the last one recorded; None when unchanged."""
    version = _raw_version(repo)
    if _observed_version(instance, RAW_SOURCE) == version:
        return None
    return dg.AssetObservation(RAW_SOURCE, metadata=raw_source_metadata(repo),
                               tags={DATA_VERSION_TAG: version, USER_PROVIDED_TAG: "true"},
                               description="observed by the dvc_lock_sensor")


def lock_events(instance: dg.DagsterInstance, dvc: DvcCli
                ) -> tuple[list[dg.AssetMaterialization | dg.AssetObservation], list[str]]:
    """The raw source's observation when it changed, and materializations for what dvc.lock holds
    but Dagster has not recorded (with the provenance dvc.lock gives them), and why some were
    skipped. Only the lock is read when nothing is new (the metadata, previews included, is built
    only then)."""
    events: list[dg.AssetMaterialization | dg.AssetObservation] = []
    skipped: list[str] = []
    repo = dvc.root()
    try:
        if (observed := raw_source_event(instance, repo)) is not None:
            events.append(observed)
    except SpaganError as exc:
        skipped.append(f"raw source: {exc}")
    try:
        lock = prepare_lock(repo)
        if any(_recorded(instance, dg.AssetKey(n), "prepare_lock") != lock["signature"] for n in DATA_ASSETS):
            events += [r.event("prepared by `dvc repro` (recorded from dvc.lock)")
                       for r in data_materializations(repo, lock)]
    except SpaganError as exc:
        skipped.append(f"data: {exc}")
    try:
        locked = read_stage_lock(repo / "dvc.lock", TRAIN_STAGE)["outs"]
        if _recorded(instance, MODEL, "model_md5") not in locked.values():
            events.append(model_materialization(repo).event("trained by `dvc repro` (recorded from dvc.lock)"))
    except SpaganError as exc:
        skipped.append(f"model: {exc}")
    try:
        eval_lock = read_stage_lock(repo / "dvc.lock", EVAL_STAGE)
        metrics_md5 = eval_lock["outs"].get(EVAL_METRICS)
        if metrics_md5 is not None and _recorded(instance, SCORES, "metrics_md5") != metrics_md5:
            events += [r.event("evaluated by `dvc repro` (recorded from dvc.lock)")
                       for r in evaluation_materializations(repo, eval_lock)]
    except SpaganError as exc:
        skipped.append(f"evaluation: {exc}")
    return events, skipped


@dg.sensor(name="dvc_lock_sensor", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="record data and models that `dvc repro` made outside Dagster (from dvc.lock)")
def dvc_lock_sensor(context: dg.SensorEvaluationContext, dvc: DvcCli):
    """Observe the raw source; report dvc.lock's data, model and evaluation as materializations when
    Dagster has not seen them (the checks' automation conditions then run the checks on them)."""
    events, skipped = lock_events(context.instance, dvc)
    for reason in skipped:
        context.log.info(reason)
    if not events:
        return dg.SkipReason("Dagster has recorded what dvc.lock holds" + "".join(f"; {s}" for s in skipped))
    return dg.SensorResult(asset_events=events)
