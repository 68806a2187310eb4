"""Reliability of the DVC train stage, for real: SIGKILL mid-run then resume; a second training
at once fails clearly (DVC's lock) while the Dagster resource waits; the previous model survives."""

import hashlib
import json
import os
import signal
import subprocess
import time

import torch

from orchestration.dvc_resource import DvcCli
from spagan.lineage.record import read_lineage
from tests.dvc_project import dvc, make_project, set_params


class Lines:
    """A log that keeps what it is told (the resource only calls .info)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)


def _start(repo, *args):
    return subprocess.Popen([str(repo / "scripts" / "dvc"), *args], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "DVC_NO_ANALYTICS": "1"})


def _wait_for_step(log, step, total, proc, timeout=120):
    """Until log holds a line of the run with `total` steps at `step` or later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec["total_steps"] == total and rec["step"] >= step:
                    return
        time.sleep(0.05)
    raise AssertionError(f"training did not reach step {step}")


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_kill_resume_concurrency_and_previous_model_kept(tmp_path):
    repo = make_project(tmp_path)
    dvc(repo, "repro", "train")  # prepare + a first 4-step model
    model, work = repo / "models" / "spagan", repo / "runs" / "train"
    old_lineage, old_sha = read_lineage(model), _sha(model / "model.safetensors")
    old_lock = (repo / "dvc.lock").read_text()

    # Enough steps that the resumed run is still training when the Dagster resource asks for the
    # lock (tiny steps take ~20 ms on an idle machine: 40 steps finished before it asked).
    total = 400
    set_params(repo, {"train": {"lambda_fm": 0.5, "max_steps": total, "epochs": 25, "epochs_decay": 25},
                      "watch": {"checkpoint_every": 2}})  # 8 steps/epoch: 400 steps
    first = _start(repo, "repro", "train")
    _wait_for_step(work / "train_log.jsonl", 1, total, first)

    # A second training at once: DVC's lock on the stage's files refuses it, naming the holder.
    second = dvc(repo, "repro", "train", check=False)
    assert second.returncode != 0, second.stdout
    assert "is busy, it is being blocked by" in second.stdout and f"PID {first.pid}" in second.stdout

    # SIGKILL mid-run (the whole process group: dvc and the spagan it started).
    _wait_for_step(work / "train_log.jsonl", 5, total, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    state = torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=True)
    killed_at = int(state["step"])
    assert 4 <= killed_at < total // 2 and state["config"]["train"]["lambda_fm"] == 0.5
    # The failed training left the previous model, its lineage and the lock as they were.
    assert _sha(model / "model.safetensors") == old_sha and read_lineage(model) == old_lineage
    assert (repo / "dvc.lock").read_text() == old_lock

    # Re-running the stage resumes from the last checkpoint; meanwhile the Dagster resource,
    # asked to run DVC too, waits for the lock instead of failing.
    resumed = _start(repo, "repro", "train")
    # Wait on the checkpoint, not the log: the killed run's log lines past `killed_at` are still
    # there until the resumed run truncates them, so the log says nothing about who is running.
    deadline = time.monotonic() + 120
    while torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=True)["step"] <= killed_at:
        assert resumed.poll() is None and time.monotonic() < deadline, "the resumed run did not get going"
        time.sleep(0.2)
    log = Lines()
    DvcCli(repo=str(repo), lock_wait_s=300).repro("train", log)
    assert resumed.poll() is not None, "the resource ran while the other DVC command held the lock"
    assert any("holds the repository lock; waiting" in line for line in log.lines), log.lines
    assert "Stage 'train' didn't change, skipping" in log.lines  # it found the other's fresh model
    out = resumed.stdout.read()
    assert resumed.returncode == 0, out
    assert f"resuming from runs/train/checkpoint.pt at step {killed_at} of {total}" in out

    steps = [json.loads(line)["step"] for line in (work / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, total + 1))  # no step lost or logged twice across the kill
    lineage = read_lineage(model)
    assert lineage["model"]["steps"] == total and lineage["params"]["train"]["lambda_fm"] == 0.5
    assert json.loads(dvc(repo, "status", "--json", "train").stdout) == {}
