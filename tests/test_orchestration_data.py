"""Dagster: Definitions load, and the data assets with their checks materialize into tmp_path."""

import shutil

import dagster as dg
import yaml

from orchestration.assets.data import deduplicated_images, raw_images, validated_manifest
from orchestration.checks import data_checks
from orchestration.resources import DataPaths
from tests.conftest import ROOT

DATA_ASSETS = [raw_images, deduplicated_images, validated_manifest]
CHECKS = [data_checks.manifest_schema_valid, data_checks.no_train_test_leakage,
          data_checks.domains_balanced, data_checks.quarantine_fraction]


def _small_params(tmp_path, **data):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update({"demo_train_per_domain": 10, "demo_test_per_domain": 5, **data})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_definitions_load_with_data_group():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = dg.AssetSelection.groups("data").resolve(graph)
    assert {k.to_user_string() for k in keys} == {"raw_images", "deduplicated_images", "validated_manifest"}
    check_names = {k.name for k in graph.asset_check_keys}
    assert {"manifest_schema_valid", "no_train_test_leakage", "domains_balanced", "quarantine_fraction"} <= check_names


def test_materialize_demo_into_tmp_dir(tmp_path):
    root = tmp_path / "data"
    resources = {"data_paths": DataPaths(root=str(root), params=_small_params(tmp_path))}
    result = dg.materialize(DATA_ASSETS + CHECKS, resources=resources)
    assert result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "manifest_schema_valid": True, "no_train_test_leakage": True, "domains_balanced": True,
        "quarantine_fraction": True,
    }
    events = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    raw_meta = events["raw_images"].metadata
    assert raw_meta["quarantined"].value == 3 and "not_an_image" in raw_meta["quarantine"].value
    assert "data:image/png;base64," in raw_meta["preview"].value
    dedup_meta = events["deduplicated_images"].metadata
    assert dedup_meta["leakage"].value == 3
    assert events["validated_manifest"].metadata["images"].value == 30
    assert (root / "manifest.csv").is_file() and (root / "prepared" / "trainA").is_dir()
    assert {p.name for p in tmp_path.iterdir()} == {"data", "params.yaml"}  # nothing written elsewhere
    version = events["validated_manifest"].tags["dagster/data_version"]

    # Unchanged source (the demo folder copied elsewhere) -> unchanged data version.
    shutil.copytree(root / "source", tmp_path / "copy")
    again = dg.materialize(
        DATA_ASSETS,
        resources={"data_paths": DataPaths(root=str(tmp_path / "d2"), params=resources["data_paths"].params)},
        run_config={"ops": {"raw_images": {"config": {"source": str(tmp_path / "copy"), "workers": 1}}}},
    )
    tags = {e.asset_key.to_user_string(): e.materialization.tags for e in again.get_asset_materialization_events()}
    assert tags["validated_manifest"]["dagster/data_version"] == version


def test_failing_checks_and_invalid_manifest(tmp_path):
    # A high quarantine fraction fails its check; a demo with too few test images fails validation.
    params = _small_params(tmp_path, demo_test_per_domain=1, demo_planted_broken=6, max_quarantine_fraction=0.05)
    result = dg.materialize(DATA_ASSETS + CHECKS, raise_on_error=False,
                            resources={"data_paths": DataPaths(root=str(tmp_path / "data"), params=params)})
    assert not result.success
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals["quarantine_fraction"] is False
    failure = [e for e in result.get_step_failure_events() if e.step_key == "validated_manifest"]
    assert failure and "min_images_per_split" in failure[0].event_specific_data.error.message
