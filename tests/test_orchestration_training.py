"""The Dagster training asset materialized in-process: `dvc repro train` in a project copy,
metadata and data version taken from dvc.lock and the model's lineage.json."""

import dagster as dg
import torch
import yaml

from orchestration.assets.data import prepared_data
from orchestration.assets.training import trained_model
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.lineage.record import read_lineage
from tests.dvc_project import make_project


def test_definitions_have_training_group():
    from orchestration.definitions import defs

    keys = dg.AssetSelection.groups("training").resolve(defs.resolve_asset_graph())
    assert {k.to_user_string() for k in keys} == {"trained_model"}


def test_training_asset_runs_dvc_and_records_lock_hashes(tmp_path):
    repo = make_project(tmp_path)
    resources = {"data_paths": DataPaths(root=str(repo / "data"), params=str(repo / "params.yaml")),
                 "dvc": DvcCli(repo=str(repo))}
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([prepared_data, trained_model],
                            resources=resources, instance=instance)
    assert result.success
    event = next(e for e in result.get_asset_materialization_events()
                 if e.asset_key.to_user_string() == "trained_model")
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    train_lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]
    deps = {d["path"]: d["md5"] for d in train_lock["deps"]}
    assert meta["prepared_md5"] == deps["data/prepared"] and meta["manifest_md5"] == deps["data/manifest.csv"]
    assert meta["model_md5"] == train_lock["outs"][0]["md5"]
    lineage = read_lineage(repo / "models" / "spagan")
    assert meta["model_sha256"] == lineage["model"]["sha256"] and meta["steps"] == 4
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert meta["params"]["train"]["max_steps"] == 4 and meta["device"].startswith(device)
    assert meta["discriminator"].startswith(f"n_layers_d {meta['params']['model']['n_layers_d']}: each patch sees")
    assert meta["git_commit"] == lineage["code"]["commit"] and len(meta["git_commit"]) == 40
    version = event.materialization.tags["dagster/data_version"]
    # The run log holds the lines of DVC's (and spagan's) output that matter (all of it: the compute logs).
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("Running stage 'train'" in m for m in logs) and any("published models/spagan" in m for m in logs)

    # Up to date: DVC skips the stage (no new output at all), the asset still reports the same facts.
    again = dg.materialize([trained_model], resources=resources, instance=instance)
    event2 = again.get_asset_materialization_events()[0]
    assert event2.materialization.tags["dagster/data_version"] == version
    assert any("Stage 'train' didn't change" in e.user_message for e in instance.all_logs(again.run_id))
    assert event2.materialization.metadata["model_sha256"].value == lineage["model"]["sha256"]


def test_a_bad_param_fails_the_asset_before_dvc_runs(tmp_path):
    """DVC deletes a stage's outputs before its command runs: a bad params.yaml must stop the asset
    before `dvc repro` starts, with the loader's one-line message."""
    import logging

    import pytest

    (tmp_path / "params.yaml").write_text("train:\n  beta1: 1.5\n")
    fake_dvc = tmp_path / "dvc"
    fake_dvc.write_text(f"#!/bin/sh\ntouch {tmp_path / 'dvc_ran'}\n")
    fake_dvc.chmod(0o755)
    with pytest.raises(dg.Failure) as info:
        DvcCli(repo=str(tmp_path), executable=str(fake_dvc)).repro("train", logging.getLogger("test"))
    assert info.value.description.endswith("params.yaml: train.beta1=1.5: must be in [0, 1)")
    assert not (tmp_path / "dvc_ran").exists()
