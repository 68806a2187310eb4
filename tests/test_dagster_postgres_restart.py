"""What happens to a team's Dagster when its PostgreSQL server restarts in the middle of a run.

Webserver and daemon apart on a database of the test's own (tests/postgres_deploy.py); a
`trained_model` run is training when the server is restarted (`pg_ctlcluster ... restart`, a
few seconds down). Measured and printed: how long the server was down, when GraphQL answered
again, the run's end. Asserted: both processes are still alive and serving (the daemon's
heartbeat is newer than the restart), the run either succeeded with its lifecycle events all
recorded or ended FAILURE with a clear error, and then a re-execution succeeds.

It restarts the PostgreSQL server itself, so it runs only where that server is this machine's
Debian cluster and we may restart it (root, pg_ctlcluster); slow, never in the default run.
"""

import os
import shutil
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest

from tests.dagster_server import FINISHED, asset_params, gql, launch, run_messages, run_status, wait_for_run
from tests.dvc_project import dvc
from tests.postgres_deploy import DAEMONS, deployed, pg_database

pytestmark = pytest.mark.slow  # 7 min here on 2 busy cores (load ~20)

TRAIN = {"train": {"max_steps": 30, "epochs": 3, "epochs_decay": 2}, "watch": {"checkpoint_every": 2}}
EVENTS = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename
              ... on MessageEvent { message timestamp } } } ... on PythonError { message } } }"""
LIFECYCLE = ("RunStartEvent", "ExecutionStepStartEvent", "MaterializationEvent", "ExecutionStepSuccessEvent",
             "RunSuccessEvent")


def _cluster() -> list[str] | None:
    """pg_ctlcluster's arguments for this machine's one cluster, where we may restart it."""
    conf = Path("/etc/postgresql")
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster") or not conf.is_dir():
        return None
    versions = sorted(p.name for p in conf.iterdir())
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"] if len(versions) == 1 else None


def _ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0


@pytest.fixture
def pg():
    if _cluster() is None or os.environ.get("DAGSTER_PG_HOST", "127.0.0.1") != "127.0.0.1":
        pytest.skip("restarts PostgreSQL: needs root and this machine's one Debian cluster (pg_ctlcluster)")
    with pg_database() as env:
        yield env


def _gql_after_restart(port: int, failures: list[str], query: str, variables: dict | None = None) -> dict:
    """gql, asked again (up to 3 times) when the webserver answers HTTP 500: the first query on
    each of its storages' pooled connections after a restart fails, and is recorded in `failures`."""
    for attempt in range(3):
        try:
            return gql(port, query, variables)
        except urllib.error.HTTPError as exc:
            if exc.code != 500 or attempt == 2:
                raise
            failures.append(f"HTTP 500: {exc.read()[:240]!r}")
    raise AssertionError("unreachable")


def _probe(port: int) -> str | None:
    """None when GraphQL answers a query that reads the database; else what went wrong."""
    try:
        gql(port, "{ runsOrError(limit: 1) { __typename } }")
        return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:300]!r}"
    except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"


def test_a_postgres_restart_in_the_middle_of_a_run(tmp_path, pg):
    with deployed(tmp_path, pg, TRAIN) as d:
        port, repo = d.port, d.repo
        dvc(repo, "repro", "prepare")
        d.wait_ready()
        run_id = launch(port, asset_params([["trained_model"]]))
        deadline = time.monotonic() + 300
        while not (repo / "runs" / "train" / "checkpoint.pt").exists():  # training is under way
            assert run_status(port, run_id) not in FINISHED, run_messages(port, run_id)
            assert time.monotonic() < deadline, run_messages(port, run_id)
            time.sleep(0.2)

        restarted_at, t0 = time.time(), time.monotonic()
        try:
            subprocess.run([*_cluster(), "restart"], check=True, capture_output=True, timeout=60)
        finally:
            if not _ready():  # never leave the shared server down
                subprocess.run([*_cluster(), "start"], check=False, capture_output=True, timeout=60)
        down_s = time.monotonic() - t0
        # Until the run ends: every GraphQL query that reads the database, and those that failed
        # (the webserver's pooled connections are the restart's casualties).
        failures, queries, status, last_failure_s = [], 0, None, None
        while status not in FINISHED:
            assert time.monotonic() - t0 < 600, f"run {run_id} not finished 600 s after the restart"
            queries += 1
            if (problem := _probe(port)) is not None:
                failures.append(problem)
                last_failure_s = time.monotonic() - t0
            else:
                try:
                    status = run_status(port, run_id)
                except urllib.error.HTTPError as exc:
                    failures.append(f"HTTP {exc.code}: {exc.read()[:160]!r}")
                    last_failure_s = time.monotonic() - t0
            time.sleep(0.5)
        ended_s = time.monotonic() - t0
        events = _gql_after_restart(port, failures, EVENTS, {"id": run_id})["logsForRun"]["events"]
        beats = _gql_after_restart(port, failures, DAEMONS)
        print(f"\nGraphQL after the restart: {len(failures)} queries failed ({2 * queries} polled), the last "
              f"polled one {last_failure_s} s after the restart began:", *sorted(set(failures))[:4], sep="\n  ")
        # One failure at most for each storage's pooled connection (runs, events, schedules), each
        # a clear "server closed the connection"; then the webserver serves again.
        assert len(failures) <= 3 and all("server closed the connection" in f for f in failures), failures
        assert _probe(port) is None and _probe(port) is None
        kinds = [e["__typename"] for e in events]
        after = [e for e in events if "timestamp" in e and int(e["timestamp"]) / 1000 > restarted_at]
        print(f"pg_ctlcluster restart: {down_s:.1f} s; run {status} {ended_s:.1f} s after it began; "
              f"{len(events)} events, {len(after)} after the restart")
        for service, proc in d.procs.items():
            assert proc.poll() is None, f"{service} died:\n{d.log(service).read_text()[-4000:]}"
        if status == "SUCCESS":
            assert all(k in kinds for k in LIFECYCLE), kinds
        else:  # a clear error in the run's log, then the run can be executed again
            assert status == "FAILURE", (status, run_messages(port, run_id))
            print("run log after the restart:", *[m for m in run_messages(port, run_id)][-8:], sep="\n  ")
            again = launch(port, asset_params([["trained_model"]]))
            assert wait_for_run(port, again, 300) == "SUCCESS", run_messages(port, again, last=None)

        # The daemon still beats, through the restarted server.
        deadline = time.monotonic() + 120
        while True:
            beats = beats["instance"]["daemonHealth"]["allDaemonStatuses"]
            if all(b["healthy"] and (b["lastHeartbeatTime"] or 0) > restarted_at for b in beats if b["required"]):
                break
            assert time.monotonic() < deadline, (beats, d.log("daemon").read_text()[-4000:])
            time.sleep(3)
            beats = gql(port, DAEMONS)
        print(f"daemons healthy again {time.monotonic() - t0:.1f} s after the restart")
