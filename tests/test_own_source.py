"""A user's own CycleGAN-layout zip through both front doors, for real: `data.source` in
params.yaml, the zip DVC-tracked in data/raw, `dvc repro` from a shell and the Dagster assets
agreeing on one dvc.lock; push/pull of the raw bytes; a changed raw image re-running the chain;
demo <-> zip switches that never mix images."""

import hashlib
import io
import json
import shutil
import subprocess
import zipfile

import dagster as dg
import pytest
import yaml

from orchestration.assets.data import prepared_data
from orchestration.assets.evaluation import evaluation
from orchestration.assets.training import trained_model
from orchestration.dvc_resource import DvcCli
from orchestration.sensors import lock_events
from spagan.lineage.dvcfiles import read_stage_lock
from spagan.lineage.record import read_lineage
from tests.dvc_project import dvc, set_params
from tests.own_source_project import ZIP, write_zip


@pytest.fixture
def repo(own_source_repo):
    return own_source_repo


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _prepared_files(repo):
    return sorted(p.relative_to(repo / "data/prepared").as_posix() for p in (repo / "data/prepared").rglob("*.png"))


def test_shell_repro_trains_on_the_zip_and_locks_its_md5(repo):
    summary = json.loads((repo / "data/summary.json").read_text())
    assert summary["source"] == {"path": ZIP, "kind": "zip", "md5": _md5(repo / ZIP)}
    assert summary["counts"] == {"trainA": 6, "testA": 6, "trainB": 6, "testB": 6}
    assert summary["duplicates"] == {"exact": 1} and summary["quarantine_reasons"] == {"not_an_image": 1}
    prepare = read_stage_lock(repo / "dvc.lock", "prepare")
    assert prepare["deps"]["data/raw"].endswith(".dir") and prepare["params"]["data"]["source"] == ZIP
    lineage = read_lineage(repo / "models/spagan")
    assert lineage["data"]["source"]["md5"] == _md5(repo / ZIP)
    shown = subprocess.run([str(repo / ".venv/bin/spagan"), "lineage", "show", "models/spagan"], cwd=repo,
                           capture_output=True, text=True, check=True).stdout
    assert f"{ZIP}  md5 {_md5(repo / ZIP)}" in shown and "matches this model" in shown, shown
    assert f"raw       data/raw (data.source={ZIP})  {prepare['deps']['data/raw']}  -> prepare" in shown, shown
    assert "models/spagan" in shown and "STALE" not in shown
    assert "Running stage" not in dvc(repo, "repro").stdout  # a second repro is a no-op


def test_dagster_assets_agree_with_the_shell_and_never_undo_it(repo):
    instance = dg.DagsterInstance.ephemeral()
    resources = {"dvc": DvcCli(repo=str(repo))}
    # A model trained and evaluated from the shell: the sensor records the lock's data, model and
    # evaluation, nothing runs.
    events, skipped = lock_events(instance, resources["dvc"])
    assert skipped == [] and [e.asset_key.to_user_string() for e in events] == [
        "raw_source", "raw_images", "deduplicated_images", "validated_manifest", "trained_model",
        "evaluation_scores", "attention_galleries"]
    assert isinstance(events[0], dg.AssetObservation)  # the raw source is observed, never materialized
    model_event = events[4]
    eval_lock = read_stage_lock(repo / "dvc.lock", "evaluate")
    assert events[5].metadata["metrics_md5"].value == eval_lock["outs"]["eval/metrics.json"]
    assert model_event.metadata["source_md5"].value == _md5(repo / ZIP)
    for event in events:
        instance.report_runless_asset_event(event)
    assert lock_events(instance, resources["dvc"]) == ([], [])  # recorded once

    # Every asset runs its stage: DVC finds each up to date and the lock stays the same.
    lock_before = (repo / "dvc.lock").read_text()
    result = dg.materialize([prepared_data, trained_model, evaluation], resources=resources, instance=instance)
    assert result.success
    logs = "\n".join(e.user_message for e in instance.all_logs(result.run_id))
    for stage in ("prepare", "train", "evaluate"):
        assert f"Stage '{stage}' didn't change" in logs
    meta = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    assert meta["raw_images"].metadata["source_md5"].value == _md5(repo / ZIP)
    assert meta["raw_images"].metadata["quarantined"].value == 1
    assert meta["trained_model"].tags["dagster/data_version"] == model_event.tags["dagster/data_version"]
    assert (repo / "dvc.lock").read_text() == lock_before
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}
    assert "Running stage" not in dvc(repo, "repro", "--dry").stdout


def test_raw_bytes_push_and_pull_to_another_clone(repo, tmp_path):
    dvc(repo, "push")
    clone = repo.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    for env in (".venv", ".venv-dvc"):
        (clone / env).symlink_to(repo / env)
    assert not (clone / ZIP).exists()
    dvc(clone, "pull", f"{ZIP}.dvc")
    assert _md5(clone / ZIP) == _md5(repo / ZIP)
    shutil.rmtree(clone)


def test_a_changed_raw_image_reruns_the_chain_and_switches_never_mix(repo, tmp_path):
    zip_files, zip_md5 = _prepared_files(repo), read_stage_lock(repo / "dvc.lock", "prepare")["outs"]["data/prepared"]
    with zipfile.ZipFile(repo / ZIP) as zf:  # one image changed, everything else byte-identical
        entries = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    write_zip(buf, tmp_path, seed=5)
    with zipfile.ZipFile(buf) as other:
        entries["own/trainA/001.png"] = other.read("own/trainA/001.png")
    with zipfile.ZipFile(repo / ZIP, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    dvc(repo, "add", ZIP)
    out = dvc(repo, "repro").stdout
    assert all(f"Running stage '{s}'" in out for s in ("prepare", "train", "evaluate")), out
    assert read_lineage(repo / "models/spagan")["data"]["source"]["md5"] == _md5(repo / ZIP)

    # demo -> zip -> demo: data/prepared holds exactly one source's images each time, and the
    # zip's prepared data comes back from DVC's cache.
    set_params(repo, {"data": {"source": ""}})
    dvc(repo, "repro", "prepare")
    demo_files = _prepared_files(repo)
    assert demo_files and not set(demo_files) & set(zip_files)
    set_params(repo, {"data": {"source": ZIP}})
    dvc(repo, "repro", "prepare")
    assert _prepared_files(repo) == zip_files
    assert read_stage_lock(repo / "dvc.lock", "prepare")["outs"]["data/prepared"] != zip_md5  # the changed image
    set_params(repo, {"data": {"source": ""}})
    out = dvc(repo, "repro", "prepare").stdout
    assert _prepared_files(repo) == demo_files
    assert yaml.safe_load((repo / "params.yaml").read_text())["data"]["source"] == ""
    assert "cached" in out or "Running stage 'prepare'" in out
