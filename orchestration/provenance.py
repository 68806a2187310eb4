"""Staleness as `dvc status` sees it: code versions from the DVC stages, provenance from dvc.lock.

Dagster calls an asset stale when its definition's code version differs from the one recorded on
its latest materialization, or when an upstream asset's data version differs from the one
recorded there (the materialization's provenance tags). Here both come from DVC:

- an asset's **code version** is the digest of the code files and params sections its DVC stage
  depends on, as they are now (spagan.lineage.stage_version.stage_code_version), computed when
  the code location loads: edit a training file and reload, and trained_model has a new one;
- every materialization, from a run or recorded from dvc.lock by the sensor, carries the code
  version **dvc.lock recorded** for the stage's last run and the input data versions the stage
  was run on (the raw source's md5 in the prepare stage's lock, the data version in the model's
  lineage.json, ...), never "whatever was current when Dagster looked".

So the UI shows an asset stale exactly when DVC would re-run its stage.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from spagan.core.errors import SpaganError
from spagan.lineage.stage_version import stage_code_version

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Dagster's provenance tags (dagster._core.definitions.data_version; tests check they still match)
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
INPUT_VERSION_PREFIX = "dagster/input_data_version/"
INPUT_POINTER_PREFIX = "dagster/input_event_pointer/"
USER_PROVIDED_TAG = "dagster/data_version_is_user_provided"
NO_POINTER = "NULL"

log = logging.getLogger(__name__)


def definition_code_version(stage: str, repo: Path = PROJECT_ROOT) -> str | None:
    """The code version of the assets a DVC stage makes, from the files on disk now; None (no code
    version: Dagster then judges staleness by time) when dvc.yaml or a dep cannot be read."""
    try:
        return stage_code_version(repo, stage)
    except SpaganError as exc:
        log.warning("no code version for stage %r: %s", stage, exc)
        return None


@dataclass(frozen=True)
class Recorded:
    """One asset's materialization as dvc.lock and the stage's files describe it."""

    key: dg.AssetKey
    metadata: dict[str, Any]
    data_version: str
    code_version: str
    inputs: dict[dg.AssetKey, str] = field(default_factory=dict)  # upstream asset -> the data version used

    def tags(self) -> dict[str, str]:
        """The provenance tags Dagster reads staleness from (they replace the ones it would infer)."""
        tags = {DATA_VERSION_TAG: self.data_version, USER_PROVIDED_TAG: "true", CODE_VERSION_TAG: self.code_version}
        for key, version in self.inputs.items():
            tags[INPUT_VERSION_PREFIX + key.to_user_string()] = version
            tags[INPUT_POINTER_PREFIX + key.to_user_string()] = NO_POINTER
        return tags

    def result(self) -> dg.MaterializeResult:
        """What an asset body yields for it."""
        return dg.MaterializeResult(asset_key=self.key, metadata=self.metadata,
                                    data_version=dg.DataVersion(self.data_version), tags=self.tags())

    def event(self, description: str) -> dg.AssetMaterialization:
        """What the dvc.lock sensor reports for it."""
        return dg.AssetMaterialization(self.key, metadata=self.metadata, tags=self.tags(), description=description)
