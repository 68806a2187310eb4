"""The user's path with horse2zebra as downloaded, for real, on a subset of the photographs:
horse2zebra.zip in data/raw under DVC, data.source and data.dedupe: report in params.yaml, the
Dagster data assets materialized (they run `dvc repro prepare`), then drop mode from a shell."""

import json

import dagster as dg
import pytest

from orchestration.assets.data import prepared_data
from orchestration.checks import data_checks
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.data.schema import DUPLICATE_COLUMNS, read_table
from tests.dvc_project import dvc, git, make_project, set_params
from tests.real_data import zip_folder
from tests.test_horse2zebra_prepare import EXPECTED, h2z_subset

ZIP = "data/raw/horse2zebra.zip"
CHECKS = [data_checks.manifest_schema_valid, data_checks.no_train_test_leakage,
          data_checks.domains_balanced, data_checks.quarantine_fraction]


@pytest.mark.slow  # a project copy, two DVC runs and a Dagster run: about a minute on 2 loaded cores
def test_zip_source_through_the_dagster_data_assets_and_dvc(tmp_path):
    folder = h2z_subset(tmp_path / "h2z")
    source = {split: len(list((folder / split).iterdir())) for split in ("trainA", "trainB", "testA", "testB")}
    repo = make_project(tmp_path)
    zip_folder(folder, repo / ZIP)
    dvc(repo, "add", ZIP)
    set_params(repo, {"data": {"source": ZIP, "dedupe": "report"}})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "horse2zebra subset")

    resources = {"data_paths": DataPaths(root=str(repo / "data"), params=str(repo / "params.yaml")),
                 "dvc": DvcCli(repo=str(repo))}
    result = dg.materialize([prepared_data, *CHECKS], resources=resources, raise_on_error=False)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    leak = checks["no_train_test_leakage"]  # leaks kept on purpose: a warning that does not block
    assert not leak.passed and leak.severity == dg.AssetCheckSeverity.WARN
    assert leak.metadata["leaking_pairs"].value == 2
    assert all(checks[n].passed for n in ("manifest_schema_valid", "domains_balanced", "quarantine_fraction"))
    events = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    dedup = events["deduplicated_images"].metadata
    assert dedup["dedupe"].value == "report" and dedup["test_split"].value == "as in the source"
    rows = {r.data["split"]: (r.data["source"], r.data["kept"]) for r in dedup["source_vs_kept"].value.records}
    assert rows == {k: (n, n) for k, n in source.items()}
    assert events["raw_images"].metadata["source"].value == ZIP
    summary = json.loads((repo / "data/summary.json").read_text())
    assert summary["counts"] == source and summary["source"]["kind"] == "zip"
    assert json.loads(dvc(repo, "status", "--json", "prepare").stdout) == {}  # the shell agrees

    set_params(repo, {"data": {"dedupe": "drop"}})
    out = dvc(repo, "repro", "prepare").stdout
    assert "WARNING: test split changed: testA: " in out and "n02381460_2710.jpg" in out, out[-3000:]
    listed = read_table(repo / "data/duplicates.csv", DUPLICATE_COLUMNS)
    assert set(zip(listed["path"], listed["duplicate_of"], listed["kind"])) == EXPECTED
    assert json.loads((repo / "data/summary.json").read_text())["counts"]["testA"] == source["testA"] - 1
