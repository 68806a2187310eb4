"""`dvc repro` for real in a throw-away git copy of the project, with tiny params (CPU)."""

import csv
import io
import json
import shutil
import subprocess

import pytest
import yaml

from spagan.core.md5 import dir_md5, file_md5
from spagan.lineage.record import read_lineage
from tests.dvc_project import dvc, git, make_project, set_params


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A project copy after its first `dvc repro` (prepare -> train -> evaluate)."""
    repo = make_project(tmp_path_factory.mktemp("pipeline"))
    out = dvc(repo, "repro").stdout
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in out
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first repro")
    return repo


def _lock(repo):
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def _dep(stage, path):
    return next(d["md5"] for d in stage["deps"] if d["path"] == path)


def test_first_repro_trains_and_records_lineage_matching_the_lock(repo):
    lock = _lock(repo)
    model = repo / "models" / "spagan"
    lineage = read_lineage(model)
    assert lineage["data"]["prepared_md5"] == _dep(lock["train"], "data/prepared") == dir_md5(repo / "data/prepared")
    assert lineage["data"]["manifest_md5"] == _dep(lock["train"], "data/manifest.csv")
    assert lineage["data"]["data_version"] == json.loads((repo / "data/summary.json").read_text())["data_version"]
    assert lineage["model"]["md5"] == file_md5(model / "model.safetensors") and lineage["model"]["steps"] == 4
    assert not (model / "checkpoint.pt").exists()  # the resumable state stays in runs/train
    assert lineage["code"]["commit"] == git(repo, "rev-parse", "HEAD~1").strip()
    assert lock["train"]["params"]["params.yaml"]["train"]["max_steps"] == 4
    rows = list(csv.DictReader((model / "loss_curves.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and float(rows[0]["G"]) > 0
    assert json.loads((repo / "eval/metrics.json").read_text())["checkpoint"]["sha256"] == lineage["model"]["sha256"]
    shown = subprocess.run([str(repo / ".venv/bin/spagan"), "lineage", "show", "models/spagan"], cwd=repo,
                           capture_output=True, text=True, check=True).stdout
    assert lineage["data"]["data_version"] in shown and "matches this model" in shown
    metrics = dvc(repo, "metrics", "show", "--json").stdout
    assert "models/spagan/metrics.json" in metrics and "eval/metrics.json" in metrics


def test_second_repro_does_nothing(repo):
    before = (repo / "dvc.lock").read_bytes(), (repo / "models/spagan/model.safetensors").stat().st_mtime_ns
    out = dvc(repo, "repro").stdout
    assert "Running stage" not in out and "up to date" in out
    assert ((repo / "dvc.lock").read_bytes(), (repo / "models/spagan/model.safetensors").stat().st_mtime_ns) == before


def test_train_param_change_reruns_train_and_evaluate_only_as_an_experiment(repo):
    data_before = _lock(repo)["prepare"]
    set_params(repo, {"train": {"lambda_fm": 0.5}})
    assert set(json.loads(dvc(repo, "status", "--json").stdout)) == {"train"}
    set_params(repo, {"train": {"lambda_fm": 1.0}})  # back to the committed value
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}

    # The ablation of the issue: `dvc exp run -S` edits params.yaml and reproduces the pipeline.
    out = dvc(repo, "exp", "run", "-S", "train.lambda_fm=0", "-n", "no-fm").stdout
    assert "Stage 'prepare' didn't change" in out
    assert "Running stage 'train'" in out and "Running stage 'evaluate'" in out
    assert _lock(repo)["prepare"] == data_before
    lineage = read_lineage(repo / "models/spagan")
    assert lineage["params"]["train"]["lambda_fm"] == 0.0
    prepared_md5 = next(o["md5"] for o in data_before["outs"] if o["path"] == "data/prepared")
    assert lineage["data"]["prepared_md5"] == prepared_md5
    shown = dvc(repo, "exp", "show", "--csv").stdout
    table = list(csv.reader(io.StringIO(shown)))  # metric texts (e.g. why KID is unavailable) hold commas
    header, rows = table[0], table[1:]
    col = header.index("train.lambda_fm")
    assert any(r[header.index("Experiment")] == "no-fm" and float(r[col]) == 0.0 for r in rows), shown


def test_push_and_pull_with_the_default_remote(repo):
    remote = repo.parent / "spagan-dvc-remote"  # the embedded default: beside the work tree
    dvc(repo, "push")
    assert remote.is_dir() and any(remote.rglob("*.dir"))
    sha = read_lineage(repo / "models/spagan")["model"]["sha256"]
    shutil.rmtree(repo / "models")
    shutil.rmtree(repo / ".dvc" / "cache")
    dvc(repo, "pull")
    assert read_lineage(repo / "models/spagan")["model"]["sha256"] == sha
