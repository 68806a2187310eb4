"""Cancelling a training run for real: a `trained_model` run under a real `dagster dev`, terminated
through GraphQL once training has passed a checkpoint. Within 60 s the run is CANCELED, no
`dvc` or `spagan` process of it is left, DVC's lock is free, and the next materialization resumes
from the checkpoint `spagan train` wrote when it stopped."""

import json
import re
import time

import pytest
import torch

from tests.dagster_server import (asset_params, dagster_dev_server, gql, launch, processes_in, run_messages,
                                  run_status, wait_for_location, wait_for_run)
from tests.dvc_project import dvc

TOTAL_STEPS = 40  # ~0.5 s a step here on 2 busy cores: the resumed run trains the rest in under a minute
TRAIN = {"train": {"max_steps": TOTAL_STEPS, "epochs": 3, "epochs_decay": 2}, "watch": {"checkpoint_every": 2}}
TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename
                 ... on TerminateRunFailure { message } ... on PythonError { message } } }"""
# What DVC and the stage commands look like on a command line (not the Dagster processes).
DVC_OR_SPAGAN = re.compile(r"/bin/dvc\b|/bin/spagan\b|\bspagan (train|lineage)\b")


def _timed_messages(port: int, run_id: str) -> list[tuple[str, float]]:
    """(message, time.time()) of the run's message events."""
    query = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
                 ... on MessageEvent { message timestamp } } } } }"""
    events = gql(port, query, {"id": run_id})["logsForRun"]["events"]
    return [(e["message"], int(e["timestamp"]) / 1000) for e in events if "message" in e]


def _training(repo) -> dict[int, str]:
    return {pid: cmd for pid, cmd in processes_in(repo).items() if DVC_OR_SPAGAN.search(cmd)}


@pytest.fixture
def server(tmp_path):
    with dagster_dev_server(tmp_path, TRAIN) as server:
        yield server


@pytest.mark.slow  # ~3 min here: tests/test_dvc_cancel.py covers the same in the default run
def test_terminating_a_training_run_cancels_it_and_the_next_run_resumes(server):
    port, repo = server.port, server.repo
    dvc(repo, "repro", "prepare")  # the data, from a shell, while the server starts
    wait_for_location(port, server.proc, server.log)
    work = repo / "runs" / "train"

    run_id = launch(port, asset_params([["trained_model"]]))
    deadline = time.monotonic() + 300
    while not (work / "checkpoint.pt").exists():  # training has passed a checkpoint
        assert run_status(port, run_id) not in ("SUCCESS", "FAILURE", "CANCELED"), run_messages(port, run_id)
        assert time.monotonic() < deadline, run_messages(port, run_id)
        time.sleep(0.2)
    assert _training(repo), processes_in(repo)

    terminated, terminated_at = time.monotonic(), time.time()
    answer = gql(port, TERMINATE, {"id": run_id})["terminateRun"]
    assert answer["__typename"] == "TerminateRunSuccess", answer
    while _training(repo):
        assert time.monotonic() - terminated < 60, _training(repo)
        time.sleep(0.1)
    gone = time.monotonic() - terminated
    status = wait_for_run(port, run_id, 60 - (time.monotonic() - terminated))
    canceled = time.monotonic() - terminated
    messages = run_messages(port, run_id, last=None)
    assert status == "CANCELED", messages
    sigint = next(t for m, t in _timed_messages(port, run_id) if m.startswith("sent SIGINT"))
    print(f"terminateRun -> SIGINT to DVC's group: {sigint - terminated_at:.1f} s; -> no dvc/spagan process "
          f"left: {gone:.1f} s; -> run CANCELED: {canceled:.1f} s")

    # The run log says where training stopped, at the step of the checkpoint `spagan train` wrote.
    stopped = [m for m in messages if m.startswith("cancelled at step")]
    assert stopped, messages
    found = re.match(rf"cancelled at step (\d+) of {TOTAL_STEPS}: `spagan train` stopped on SIGINT", stopped[0])
    assert found, stopped
    step = int(found[1])
    assert torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=True)["step"] == step
    assert not any(m.startswith("sent SIGTERM") for m in messages), messages  # SIGINT was enough

    # DVC's raw output went to the step's compute logs, not one event per line.
    out = "".join(p.read_text(errors="replace") for p in (server.home / "storage" / run_id).rglob("*.out"))
    assert "spagan train --params params.yaml" in out and "stopped by SIGINT" in out
    assert not any("schedule " in m for m in messages)  # a line of spagan's plan: compute logs only

    # Nothing holds DVC's lock: no entries left in its read/write lock, `dvc repro --dry` runs.
    rwlock = repo / ".dvc" / "tmp" / "rwlock"
    if rwlock.exists():
        assert not any(json.loads(rwlock.read_text()).values()), rwlock.read_text()
    assert dvc(repo, "repro", "--dry", "--single-item", "train").returncode == 0

    # The next materialization resumes from that checkpoint and finishes the schedule.
    second = launch(port, asset_params([["trained_model"]]))
    status = wait_for_run(port, second, 300)
    messages = run_messages(port, second, last=None)
    assert status == "SUCCESS", messages
    assert any(f"resuming from runs/train/checkpoint.pt at step {step} of {TOTAL_STEPS}" in m for m in messages)
    assert json.loads((repo / "models" / "spagan" / "lineage.json").read_text())["model"]["steps"] == TOTAL_STEPS
