"""The dvc.lock sensor: data and models made by `dvc repro` from a shell appear in Dagster.

dvc.lock is the one authority for the data and the model. When it names outputs that Dagster has
not recorded (the latest materialization of the asset carries other lock md5s), the sensor
records a materialization of the assets built from the lock and the files, exactly as a run of
the assets would have reported them, without recomputing anything. The evaluation assets' eager
automation then sees a new model or new data and evaluates it.
"""

import dagster as dg

from orchestration.assets.data_metadata import data_materializations
from orchestration.assets.training import model_materialization
from orchestration.dvc_resource import DvcCli
from spagan.errors import SpaganError

# dagster's tag for a materialization's data version (what MaterializeResult(data_version=...) sets)
DATA_VERSION_TAG = "dagster/data_version"


def _recorded(instance: dg.DagsterInstance, key: dg.AssetKey, field: str) -> object:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(field)
    return None if value is None else value.value


def lock_events(instance: dg.DagsterInstance, dvc: DvcCli) -> tuple[list[dg.AssetMaterialization], list[str]]:
    """Materializations for what dvc.lock holds but Dagster has not recorded, and why some were skipped."""
    events: list[dg.AssetMaterialization] = []
    skipped: list[str] = []
    try:
        for name, metadata, version in data_materializations(dvc.root()):
            key = dg.AssetKey(name)
            if _recorded(instance, key, "prepare_lock") != metadata["prepare_lock"]:
                events.append(dg.AssetMaterialization(key, metadata=metadata, tags={DATA_VERSION_TAG: version},
                                                      description="prepared by `dvc repro` (recorded from dvc.lock)"))
    except SpaganError as exc:
        skipped.append(f"data: {exc}")
    try:
        metadata, version = model_materialization(dvc.root())
        key = dg.AssetKey("trained_model")
        if _recorded(instance, key, "model_md5") != metadata["model_md5"]:
            events.append(dg.AssetMaterialization(key, metadata=metadata, tags={DATA_VERSION_TAG: version},
                                                  description="trained by `dvc repro` (recorded from dvc.lock)"))
    except SpaganError as exc:
        skipped.append(f"model: {exc}")
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
