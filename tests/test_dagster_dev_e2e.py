"""End to end through a real `dagster dev`: a project copy with tiny params, a temporary
DAGSTER_HOME, every asset materialized by one run launched through the GraphQL API (data assets
-> `dvc repro train` -> evaluation), outputs checked on disk and through GraphQL, the
re-evaluation schedule and the automation sensor listed, then the server stopped."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from spagan.evaluation.metrics.features import ENV_VAR
from tests.dvc_project import ROOT, dvc, git, make_project

LOCATION, REPOSITORY = "spagan", "__repository__"
SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
START_TIMEOUT_S, RUN_TIMEOUT_S = 240, 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.loads(resp.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def _wait_for_location(port: int, proc: subprocess.Popen, log: Path) -> list[list[str]]:
    """Asset keys of the loaded code location, once the server answers and the location loaded."""
    query = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name
                   location { name } assetNodes { assetKey { path } } } } ... on PythonError { message } } }"""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dagster dev exited early:\n{log.read_text()[-4000:]}"
        try:
            nodes = _gql(port, query)["repositoriesOrError"].get("nodes") or []
            if nodes:
                return [a["assetKey"]["path"] for a in nodes[0]["assetNodes"]]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    raise AssertionError(f"no code location after {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def _run_log(port: int, run_id: str) -> str:
    query = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
                 __typename ... on MessageEvent { message } } } } }"""
    events = _gql(port, query, {"id": run_id})["logsForRun"].get("events") or []
    return "\n".join(e.get("message", "") for e in events[-60:])


@pytest.fixture
def dagster_dev(tmp_path):
    """(port, repo) of a running `dagster dev` on a project copy; stopped (process group) after."""
    repo = make_project(tmp_path)
    for rel in ("orchestration", "workspace.yaml"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, repo / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / rel)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "code location")
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The deployment's instance config (queued runs, one `gpu` pool slot), as docs/deploy.md ships it.
    deployment = (ROOT / "deploy" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(deployment + "\ntelemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(repo), "TORCH_HOME": str(tmp_path / "torch"),
           "DVC_NO_ANALYTICS": "1"}
    env.pop(ENV_VAR, None)
    port, log = _free_port(), tmp_path / "dagster_dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(repo / ".venv" / "bin" / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                                 "-w", "workspace.yaml"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield port, repo, proc, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: dagster dev shuts its children down
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        try:  # run workers and code servers of the group, should any outlive dagster dev
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_dagster_dev_materializes_every_asset(dagster_dev):
    port, repo, proc, log = dagster_dev
    keys = _wait_for_location(port, proc, log)
    names = {"/".join(k) for k in keys}
    assert {"raw_images", "validated_manifest", "trained_model", "evaluation_scores", "attention_galleries"} <= names

    launch = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
                  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
                  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""
    params = {"selector": {**SELECTOR, "jobName": "__ASSET_JOB", "assetSelection": [{"path": k} for k in keys]},
              "runConfigData": {}}
    answer = _gql(port, launch, {"p": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id = answer["run"]["runId"]

    status_q = 'query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }'
    deadline, status = time.monotonic() + RUN_TIMEOUT_S, None
    while time.monotonic() < deadline:
        status = _gql(port, status_q, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(3)
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{_run_log(port, run_id)}"

    # Outputs on disk: prepared data, the DVC-trained model with its lineage, the evaluation.
    lineage = json.loads((repo / "models" / "spagan" / "lineage.json").read_text())
    assert (repo / "data" / "manifest.csv").is_file() and (repo / "dvc.lock").is_file()
    metrics = json.loads((repo / "eval" / "metrics.json").read_text())
    assert metrics["checkpoint"]["sha256"] == lineage["model"]["sha256"]
    assert metrics["data"]["data_version"] == lineage["data"]["data_version"]
    for d in ("a2b", "b2a"):
        assert (repo / "eval" / "gallery" / f"{d}.png").stat().st_size > 0
    # Every stage ran through DVC: the shell sees nothing to do (dvc.lock is the one authority).
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}

    # The materialization recorded in the instance carries the model hash.
    asset_q = """{ assetOrError(assetKey: {path: ["evaluation_scores"]}) { ... on Asset {
                   assetMaterializations(limit: 1) { runId metadataEntries { label
                   ... on TextMetadataEntry { text } } } } } }"""
    mats = _gql(port, asset_q)["assetOrError"]["assetMaterializations"]
    entries = {e["label"]: e.get("text") for e in mats[0]["metadataEntries"]}
    assert mats[0]["runId"] == run_id and entries["model_sha256"] == lineage["model"]["sha256"]

    # The re-evaluation schedule (cron from the copy's params) and the automation sensor are listed, running.
    sched_q = """query($s: RepositorySelector!) {
        schedulesOrError(repositorySelector: $s) { ... on Schedules { results { name cronSchedule
            scheduleState { status } } } }
        sensorsOrError(repositorySelector: $s) { ... on Sensors { results { name sensorState { status } } } } }"""
    data = _gql(port, sched_q, {"s": SELECTOR})
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    assert schedules["reevaluation_schedule"]["cronSchedule"] == "0 3 * * *"
    assert schedules["reevaluation_schedule"]["scheduleState"]["status"] == "RUNNING"
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert sensors.get("automation") == sensors.get("dvc_lock_sensor") == "RUNNING"

    # Two training materializations requested at once: the `gpu` pool (one slot in deploy/dagster.yaml)
    # makes the queue run them one after the other.
    params["selector"]["assetSelection"] = [{"path": ["trained_model"]}]
    runs = [_gql(port, launch, {"p": params})["launchRun"]["run"]["runId"] for _ in range(2)]
    times_q = 'query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }'
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        done = [_gql(port, times_q, {"id": r})["runOrError"] for r in runs]
        if all(d["status"] in ("SUCCESS", "FAILURE", "CANCELED") for d in done):
            break
        time.sleep(2)
    assert [d["status"] for d in done] == ["SUCCESS", "SUCCESS"], [_run_log(port, r) for r in runs]
    first, second = sorted(done, key=lambda d: d["startTime"])
    assert second["startTime"] >= first["endTime"], done
