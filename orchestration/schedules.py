"""When the evaluation runs again: on a schedule, and whenever the model or the test data change.

- ``reevaluation`` job + ``reevaluation_schedule``: the evaluation group (and its check) on the
  cron in params (eval.schedule_cron, read when the code location loads; default daily).
- ``automation``: the sensor that evaluates every automation condition and launches what it
  asks for: the evaluation assets (AutomationCondition.eager: the trained model or the validated
  test data was updated) and every asset check (eager: its asset has a new materialization that
  no run checked, such as one the dvc.lock sensor recorded after a shell `dvc repro`). Both run
  by default under `dagster dev`.
"""

import dagster as dg

from orchestration.resources import DataPaths
from spagan.config import load_config

EVALUATION = dg.AssetSelection.groups("evaluation")

reevaluation_job = dg.define_asset_job(
    "reevaluation", selection=EVALUATION,
    # the DVC stage runs although its inputs are unchanged (see orchestration.assets.evaluation)
    config={"ops": {"evaluation": {"config": {"force": True}}}},
    description="re-evaluate the current model on the current test data (`dvc repro --force evaluate`: "
                "KID, galleries, demo metrics)")


def reevaluation_schedule(data_paths: DataPaths) -> dg.ScheduleDefinition:
    """The re-evaluation job on eval.schedule_cron of the params file of `data_paths` (the resource
    the code location uses, so the schedule and the assets read the same params.yaml)."""
    return dg.ScheduleDefinition(
        name="reevaluation_schedule",
        job=reevaluation_job,
        cron_schedule=load_config(data_paths.params_path()).eval.schedule_cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="eval.schedule_cron in params.yaml",
    )

automation = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),  # assets and checks; only those with an automation condition are launched
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="evaluate again when the trained model or the validated test data change; run the checks "
                "on every new version, also those recorded from dvc.lock",
)
