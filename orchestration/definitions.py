"""The Dagster code location: `dagster dev` in the repo root loads `defs` (see workspace.yaml).

Assets and checks are collected per module, so each group adds one line here; resources are
chosen here, the one place where environments differ.
"""

import dagster as dg

from orchestration import jobs, schedules, sensors
from orchestration.assets import data as data_assets
from orchestration.assets import evaluation as evaluation_assets
from orchestration.assets import side_by_side as side_by_side_assets
from orchestration.assets import training as training_assets
from orchestration.checks import data_checks, eval_checks
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths

data_paths = DataPaths()

defs = dg.Definitions(
    # raw_source too
    assets=dg.load_assets_from_modules([data_assets, training_assets, evaluation_assets, side_by_side_assets]),
    asset_checks=dg.load_asset_checks_from_modules([data_checks, eval_checks]),
    jobs=[schedules.reevaluation_job, jobs.ablation],
    schedules=[schedules.reevaluation_schedule(data_paths)],
    sensors=[schedules.automation, sensors.dvc_lock_sensor],
    resources={"data_paths": data_paths, "dvc": DvcCli()},
)
