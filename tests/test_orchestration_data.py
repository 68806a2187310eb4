"""Dagster: Definitions load, and the data assets run the DVC `prepare` stage of a project copy,
with their checks, reporting what the stage wrote and what dvc.lock recorded."""

import json

import dagster as dg
import yaml

from orchestration.assets.data import prepared_data
from orchestration.checks import data_checks
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.lineage.stage_version import locked_code_version, raw_source_version, stage_code_version
from tests.dvc_project import dvc, make_project, set_params

CHECKS = [data_checks.manifest_schema_valid, data_checks.no_train_test_leakage,
          data_checks.domains_balanced, data_checks.quarantine_fraction]


def test_definitions_load_with_data_group_sensor_pools_and_code_versions():
    from orchestration.definitions import defs
    from orchestration.jobs import ablation

    graph = defs.resolve_asset_graph()
    keys = dg.AssetSelection.groups("data").resolve(graph)
    assert {k.to_user_string() for k in keys} == {"raw_images", "deduplicated_images", "validated_manifest"}
    source = graph.get(dg.AssetKey("raw_source"))  # the raw source: observable, upstream of the data
    assert source.is_observable and dg.AssetKey("raw_source") in graph.get(dg.AssetKey("raw_images")).parent_keys
    check_names = {k.name for k in graph.asset_check_keys}
    assert {"manifest_schema_valid", "no_train_test_leakage", "domains_balanced", "quarantine_fraction"} <= check_names
    for key in graph.asset_check_keys:  # every check also runs on versions recorded without a run
        assert graph.get(key).automation_condition is not None, key
    assert "dvc_lock_sensor" in {s.name for s in defs.sensors}
    # Code versions from the DVC stages' code deps and params, as they are now.
    stages = {"raw_images": "prepare", "validated_manifest": "prepare", "trained_model": "train",
              "evaluation_scores": "evaluate"}
    for name, stage in stages.items():
        assert graph.get(dg.AssetKey(name)).code_version == stage_code_version(".", stage)
    # Pools: accelerator work in `gpu`, the DVC-running data step in `dvc`.
    train = defs.get_assets_def("trained_model")
    assert train.op.pool == "gpu"
    assert defs.get_assets_def("evaluation_scores").op.pool == "gpu"
    assert ablation.nodes[0].definition.pool == "gpu"
    assert defs.get_assets_def("raw_images").op.pool == "dvc"
    assert json.loads(train.op.tags["dagster-k8s/config"]) == {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}


def test_data_assets_run_the_prepare_stage_and_checks_read_its_outputs(tmp_path):
    repo = make_project(tmp_path, {"data": {"demo_train_per_domain": 10, "demo_test_per_domain": 5}})
    resources = {"data_paths": DataPaths(root=str(repo / "data"), params=str(repo / "params.yaml")),
                 "dvc": DvcCli(repo=str(repo))}
    result = dg.materialize([prepared_data, *CHECKS], resources=resources)
    assert result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "manifest_schema_valid": True, "no_train_test_leakage": True, "domains_balanced": True,
        "quarantine_fraction": True,
    }
    events = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["prepare"]
    outs = {o["path"]: o["md5"] for o in lock["outs"]}
    raw = events["raw_images"].metadata
    summary = json.loads((repo / "data/summary.json").read_text())
    assert raw["source"].value == "demo domains" and raw["quarantined"].value == summary["quarantined"] > 0
    assert raw["raw_dir_md5"].value == next(d["md5"] for d in lock["deps"] if d["path"] == "data/raw")
    quarantine = raw["quarantine"].value  # table metadata: records with a column schema
    assert "empty_file" in {r.data["reason"] for r in quarantine.records}
    assert [c.name for c in quarantine.schema.columns] == ["source_path", "reason", "detail"]
    assert raw["dagster/row_count"].value == raw["images"].value > 0
    assert "data:image/png;base64," in raw["preview"].value
    assert events["deduplicated_images"].metadata["leakage"].value == 1
    dedup = events["deduplicated_images"].metadata  # the source's count beside the kept one, per split
    assert dedup["dedupe"].value == "drop" and dedup["test_split"].value == "as in the source"
    rows = {r.data["split"]: r.data for r in dedup["source_vs_kept"].value.records}
    assert {name: (r["source"], r["kept"]) for name, r in rows.items() if name.startswith("test")} == {
        "testA": (5, 5), "testB": (5, 5)}
    assert all(r["kept"] == r["source"] - r["dropped"] for r in rows.values())
    assert sum(r["dropped"] for r in rows.values()) == dedup["duplicates"].value > 0
    validated = events["validated_manifest"]
    assert validated.metadata["images"].value == summary["images"] == 30
    assert validated.metadata["prepared_md5"].value == outs["data/prepared"]
    assert validated.metadata["with_counterparts"].value == 10  # one per test image of the demo
    assert validated.tags["dagster/data_version"] == summary["data_version"]
    assert validated.metadata["dagster/row_count"].value == 30
    columns = {c.name: c for c in validated.metadata["manifest_sample"].value.schema.columns}
    assert columns["domain"].constraints.other == ["isin(['A', 'B'])"]  # from the pandera schema
    assert columns["path"].constraints.unique and columns["width"].type == "int"
    # Provenance from dvc.lock: the stage's locked code version, the raw source version it hashed.
    code = locked_code_version(repo, "prepare")
    assert code == stage_code_version(repo, "prepare")  # the lock is current: DVC sees no change
    for name in ("raw_images", "deduplicated_images", "validated_manifest"):
        assert events[name].tags["dagster/code_version"] == code
    assert events["raw_images"].tags["dagster/input_data_version/raw_source"] == raw_source_version(repo)
    assert validated.tags["dagster/input_data_version/deduplicated_images"] == \
        events["deduplicated_images"].tags["dagster/data_version"]
    assert json.loads(dvc(repo, "status", "--json", "prepare").stdout) == {}  # the shell agrees

    # Many broken files: the stage succeeds and the quarantine check fails.
    set_params(repo, {"data": {"demo_planted_broken": 6, "max_quarantine_fraction": 0.05}})
    result = dg.materialize([prepared_data, *CHECKS], resources=resources, raise_on_error=False)
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals["quarantine_fraction"] is False and evals["manifest_schema_valid"] is True

    # Too few test images: the stage fails, the run shows the readable validation report.
    set_params(repo, {"data": {"demo_test_per_domain": 1, "demo_planted_broken": 1}})
    result = dg.materialize([prepared_data], resources=resources, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "min_images_per_split" in failure


def test_a_check_that_cannot_run_fails_and_says_why(tmp_path):
    """No prepared data at all (a check launched before anything was made): every data check fails
    with the missing file named, none raises."""
    resources = {"data_paths": DataPaths(root=str(tmp_path / "data")), "dvc": DvcCli(repo=str(tmp_path))}
    result = dg.materialize([prepared_data, *CHECKS], resources=resources,
                            selection=dg.AssetSelection.checks(*CHECKS), raise_on_error=False)
    evaluations = result.get_asset_check_evaluations()  # (the blocking ones fail the run, as they should)
    assert len(evaluations) == 4 and not any(e.passed for e in evaluations)
    for e in evaluations:
        assert e.description.startswith("cannot run: ") and "not found" in e.description, e.description
        assert str(tmp_path / "data") in e.metadata["cannot_run"].value
