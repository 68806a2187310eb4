"""The pipeline on Dagster as a team deploys it: `scripts/dagster-deploy webserver` and `... daemon`,
two processes over one PostgreSQL database of the test's own (tests/postgres_deploy.py).

On a project copy with tiny params: a shell `scripts/dvc repro prepare` is recorded by the
dvc_lock_sensor the daemon runs, and the automation sensor runs the data checks on those
versions; a training run terminated through GraphQL is CANCELED and the next run resumes it and
materializes the data and training assets; the re-evaluation schedule (every minute here: eval.schedule_cron)
launches its run on the daemon's tick; after both processes stopped and started again on a fresh
DAGSTER_HOME, the run history, the asset versions and the check results are all still there:
they live in PostgreSQL.
"""

import re
import time

import pytest

from tests.dagster_server import (FINISHED, SELECTOR, asset_params, gql, instance_home, launch, run_messages,
                                  run_status, wait_for_run)
from tests.dvc_project import dvc
from tests.postgres_deploy import deployed, pg_database
from tests.test_dagster_cancel import TERMINATE
from tests.test_dagster_versions_e2e import _checks, _nodes, _until

pytestmark = pytest.mark.slow  # 10+ minutes on 2 busy cores: two starts, ~15 step processes, a schedule tick

TOTAL_STEPS = 24  # ~0.5 s a step (unloaded): time to terminate the run after a checkpoint
PARAMS = {"train": {"max_steps": TOTAL_STEPS, "epochs": 3, "epochs_decay": 2}, "watch": {"checkpoint_every": 2},
          "eval": {"schedule_cron": "* * * * *"}}  # a tick every minute instead of daily
DATA = ("raw_images", "deduplicated_images", "validated_manifest")
PIPELINE = (*DATA, "trained_model", "evaluation_scores", "attention_galleries")
SCHEDULE = {**SELECTOR, "scheduleName": "reevaluation_schedule"}
SCHEDULE_ID = """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) { ... on Schedule {
                   id scheduleState { status } } } }"""
STOP = """mutation($id: String!) { stopRunningSchedule(id: $id) { __typename
            ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
START = """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { __typename
             ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
RUNS = """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId status jobName
            tags { key value } } } } }"""
WAIT_S = 600  # generous: minutes per step when other jobs load the 2 cores


def _runs(port: int, tags: dict[str, str] | None = None) -> list[dict]:
    f = {"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else None
    return gql(port, RUNS, {"f": f})["runsOrError"]["results"]


def _schedule(port: int, on: bool) -> None:
    if on:
        answer = gql(port, START, {"s": SCHEDULE})["startSchedule"]
    else:
        schedule_id = gql(port, SCHEDULE_ID, {"s": SCHEDULE})["scheduleOrError"]["id"]
        answer = gql(port, STOP, {"id": schedule_id})["stopRunningSchedule"]
    assert answer.get("scheduleState", {}).get("status") == ("RUNNING" if on else "STOPPED"), answer


def _all_runs_finished(port: int) -> list[dict]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        runs = _runs(port)
        if all(r["status"] in FINISHED for r in runs):
            return runs
        time.sleep(3)
    raise AssertionError(f"runs still going after {WAIT_S} s: {runs}")


def _state(port: int) -> dict:
    """What must survive a restart: every run and its status, each asset's latest materialization
    (run, data version) and its checks' results on it."""
    latest = """{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId timestamp
                  tags { key value } } } }"""
    versions = {}
    for node in gql(port, latest)["assetNodes"]:
        mats = node["assetMaterializations"]
        if mats:
            tags = {t["key"]: t["value"] for t in mats[0]["tags"]}
            versions["/".join(node["assetKey"]["path"])] = (mats[0]["runId"], mats[0]["timestamp"],
                                                            tags.get("dagster/data_version"))
    checks = {name: _checks(node) for name, node in _nodes(port).items()}
    return {"runs": {r["runId"]: (r["jobName"], r["status"]) for r in _runs(port)}, "versions": versions,
            "checks": checks}


@pytest.fixture
def pg():
    with pg_database() as env:
        yield env


def test_the_pipeline_on_postgres_with_webserver_and_daemon_apart(tmp_path, pg):
    with deployed(tmp_path, pg, PARAMS) as d:
        port, repo = d.port, d.repo
        dvc(repo, "repro", "prepare")  # the data, from a shell, while the services start
        d.wait_ready()
        _schedule(port, on=False)  # until its part below: a run a minute would hold the `gpu` pool

        # The daemon's dvc_lock_sensor records the shell's data; automation checks those versions.
        nodes = _until(port, "the shell's data recorded and checked", lambda n: all(
            n[a]["assetMaterializations"] and _checks(n[a])
            and set(_checks(n[a]).values()) <= {"SUCCEEDED", "FAILED"} for a in DATA))
        assert set(_checks(nodes["validated_manifest"]).values()) == {"SUCCEEDED"}
        recorded = {a: nodes[a]["assetMaterializations"][0]["runId"] for a in DATA}
        check_runs = _all_runs_finished(port)
        assert check_runs and {r["status"] for r in check_runs} == {"SUCCESS"}, check_runs
        assert not set(recorded.values()) & {r["runId"] for r in check_runs}  # recorded, not made by a run

        # A training run, terminated from GraphQL after a checkpoint: CANCELED.
        work = repo / "runs" / "train"
        first = launch(port, asset_params([["trained_model"]]))
        deadline = time.monotonic() + WAIT_S
        while not (work / "checkpoint.pt").exists():
            assert run_status(port, first) not in FINISHED, run_messages(port, first)
            assert time.monotonic() < deadline, run_messages(port, first)
            time.sleep(0.2)
        answer = gql(port, TERMINATE, {"id": first})["terminateRun"]
        assert answer["__typename"] == "TerminateRunSuccess", answer
        assert wait_for_run(port, first, 120) == "CANCELED", run_messages(port, first, last=None)
        stopped = [m for m in run_messages(port, first, last=None) if m.startswith("cancelled at step")]
        step = int(re.match(rf"cancelled at step (\d+) of {TOTAL_STEPS}", stopped[0])[1])

        # The next run materializes the data and training assets (the data: DVC finds it done) and
        # resumes the training. (The evaluation: automation's eager run, then the schedule's below.)
        second = launch(port, asset_params([[a] for a in (*DATA, "trained_model")]))
        assert wait_for_run(port, second, WAIT_S) == "SUCCESS", run_messages(port, second, last=None)
        messages = run_messages(port, second, last=None)
        assert any(f"resuming from runs/train/checkpoint.pt at step {step} of {TOTAL_STEPS}" in m for m in messages)
        nodes = _nodes(port)
        for a in (*DATA, "trained_model"):
            assert nodes[a]["assetMaterializations"][0]["runId"] == second, (a, nodes[a])

        # The schedule's tick (every minute) launches the re-evaluation on the daemon.
        _all_runs_finished(port)  # what automation launched after the run, if anything
        _schedule(port, on=True)
        deadline, scheduled = time.monotonic() + 150, []
        while not scheduled:
            assert time.monotonic() < deadline, "no run from reevaluation_schedule within 150 s"
            time.sleep(3)
            scheduled = _runs(port, {"dagster/schedule_name": "reevaluation_schedule"})
        _schedule(port, on=False)
        tick = scheduled[-1]
        assert tick["jobName"] == "reevaluation"
        assert wait_for_run(port, tick["runId"], WAIT_S) == "SUCCESS", run_messages(port, tick["runId"])
        assert gql(port, '{ assetOrError(assetKey: {path: ["evaluation_scores"]}) { ... on Asset { '
                         'assetMaterializations(limit: 1) { runId } } } }'
                   )["assetOrError"]["assetMaterializations"][0]["runId"] in {r["runId"] for r in scheduled}

        # Both stopped and started again, on a DAGSTER_HOME of their own: everything is still there.
        _all_runs_finished(port)
        before = _state(port)
        pids = {s: p.pid for s, p in d.procs.items()}
        d.stop()
        d.env["DAGSTER_HOME"] = str(instance_home(tmp_path / "dagster_home_after", storage=True))
        d.start()
        d.wait_ready()
        assert not {s: p.pid for s, p in d.procs.items()}.items() & pids.items()
        after = _state(port)
        assert after["runs"] == before["runs"] and len(before["runs"]) >= 4, (before["runs"], after["runs"])
        assert (before["runs"][first], before["runs"][second]) == (("__ASSET_JOB", "CANCELED"),
                                                                   ("__ASSET_JOB", "SUCCESS"))
        assert after["versions"] == before["versions"] and set(PIPELINE) <= set(after["versions"])
        assert after["checks"] == before["checks"]
        assert set(after["checks"]["validated_manifest"].values()) == {"SUCCEEDED"}
