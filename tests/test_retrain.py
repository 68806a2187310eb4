"""A re-run train stage always trains anew, for real (`dvc repro` in a throw-away git copy):
a code change and `--force` each train; nothing changed is a no-op (default run). The slow tests add
a params change and a data change (each trains), and a killed run that resumes, but starts fresh
when its code changed meanwhile (the stamp rules themselves are unit-tested in test_lineage.py;
kill -> resume under dvc also in test_kill_resume.py)."""

import json
import os
import signal

import pytest

from spagan.lineage.dvcfiles import read_stage_lock
from spagan.lineage.record import read_lineage
from tests.dvc_project import dvc, make_project, set_params
from tests.test_kill_resume import _sha, _start, _wait_for_step


def _steps(repo):
    return [json.loads(line)["step"] for line in (repo / "runs/train/train_log.jsonl").read_text().splitlines()]


def _consistent(repo):
    """lineage.json's code and data agree with what dvc.lock recorded for the train stage."""
    lineage = read_lineage(repo / "models/spagan")
    lock = read_stage_lock(repo / "dvc.lock", "train")
    for path, md5 in lineage["code"]["deps"].items():
        assert lock["deps"][path] == md5, path
    shown = dvc(repo, "status", "--json", "train").stdout
    assert json.loads(shown) == {}, shown
    return lineage


def test_every_rerun_of_the_train_stage_retrains(tmp_path):
    repo = make_project(tmp_path)
    model = repo / "models/spagan"
    dvc(repo, "repro", "train")
    first = _consistent(repo)
    assert first["code"]["digest"] and "spagan/training/losses.py" in first["code"]["deps"]  # deps by file (dvc.yaml)
    assert "spagan/training/previews.py" in first["code"]["watch_code"]  # run, recorded, not a dep

    # Nothing changed: DVC skips the stage, nothing is rewritten.
    mtime = (model / "lineage.json").stat().st_mtime_ns
    assert "didn't change, skipping" in dvc(repo, "repro", "train").stdout
    assert (model / "lineage.json").stat().st_mtime_ns == mtime

    # --force: the finished run in runs/train is not republished; the stage trains all 4 steps.
    out = dvc(repo, "repro", "--force", "train").stdout
    assert "cleared, its run had finished" in out and "resuming" not in out, out
    assert _steps(repo) == [1, 2, 3, 4]
    assert read_lineage(model)["runtime"]["created"] >= first["runtime"]["created"]
    assert (model / "lineage.json").stat().st_mtime_ns != mtime

    # A code change (the example: cycle loss x 1.5): trains, and the model differs.
    losses = repo / "spagan/training/losses.py"
    text = losses.read_text()
    assert "def cycle_loss" in text
    losses.write_text(text + "\n\n_original_cycle = cycle_loss\n\n\ndef cycle_loss(*a, **k):  # noqa: F811\n"
                      "    return 1.5 * _original_cycle(*a, **k)\n")
    out = dvc(repo, "repro", "train").stdout
    assert "dep spagan/training" not in out  # the finished run is cleared for having finished
    assert "cleared, its run had finished" in out and _steps(repo) == [1, 2, 3, 4]
    changed = _consistent(repo)
    assert changed["model"]["sha256"] != first["model"]["sha256"]
    assert changed["code"]["deps"]["spagan/training/losses.py"] != first["code"]["deps"]["spagan/training/losses.py"]


@pytest.mark.slow
def test_params_and_data_changes_retrain(tmp_path):
    repo = make_project(tmp_path)
    dvc(repo, "repro", "train")
    first = _consistent(repo)

    # A params change trains (and the lock and lineage agree on it).
    set_params(repo, {"train": {"lambda_fm": 0.5}})
    out = dvc(repo, "repro", "train").stdout
    assert "Running stage 'train'" in out and "cleared, its run had finished" in out and _steps(repo) == [1, 2, 3, 4]
    assert _consistent(repo)["params"]["train"]["lambda_fm"] == 0.5

    # A data change (another demo seed): prepare and train both run.
    set_params(repo, {"data": {"demo_seed": 1}})
    out = dvc(repo, "repro", "train").stdout
    assert "Running stage 'prepare'" in out and "Running stage 'train'" in out
    assert _consistent(repo)["data"]["prepared_md5"] != first["data"]["prepared_md5"]


@pytest.mark.slow
def test_killed_run_resumes_only_under_the_same_code(tmp_path):
    repo = make_project(tmp_path)
    work = repo / "runs/train"
    total = 40  # 8 steps per epoch: a few seconds, long enough to be killed at step 4
    set_params(repo, {"train": {"max_steps": total, "epochs": 3, "epochs_decay": 3}, "watch": {"checkpoint_every": 2}})

    def kill_at(step):
        proc = _start(repo, "repro", "train")
        _wait_for_step(work / "train_log.jsonl", step, total, proc)  # only this run has `total` steps
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    # Killed, nothing changed: the next repro resumes where the checkpoint left off.
    kill_at(4)
    out = dvc(repo, "repro", "train").stdout
    assert "resuming from runs/train/checkpoint.pt" in out and "cleared" not in out, out
    assert _steps(repo) == list(range(1, total + 1))

    # Killed, then the code changed: the next repro starts fresh, naming the changed file.
    total = 48  # told apart from the finished run's log, which stays until `lineage start` clears it
    set_params(repo, {"train": {"lambda_fm": 0.25, "max_steps": total}})
    kill_at(4)
    step_file = repo / "spagan/training/step.py"
    step_file.write_text(step_file.read_text() + "\n# changed after the kill\n")
    out = dvc(repo, "repro", "train").stdout
    assert "cleared, its run started under other dependencies: dep spagan/training/step.py" in out, out
    assert "resuming" not in out and _steps(repo) == list(range(1, total + 1))
    lineage = _consistent(repo)
    assert lineage["params"]["train"]["lambda_fm"] == 0.25 and lineage["model"]["steps"] == total
    assert _sha(repo / "models/spagan/model.safetensors") == lineage["model"]["sha256"]
