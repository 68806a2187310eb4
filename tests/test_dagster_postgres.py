"""Dagster as a team deploys it (deploy/dagster.yaml, scripts/dagster-deploy): webserver and daemon as
separate processes over one PostgreSQL database, each test on a database of its own.

The default test starts both and checks that they share the database and nothing else: Dagster's
tables are in PostgreSQL, the daemon's heartbeats reach the webserver through it, no SQLite file
appears in DAGSTER_HOME. tests/test_dagster_postgres_e2e.py (slow) runs the pipeline on it.
"""

import pytest

from tests.dagster_server import SELECTOR, gql
from tests.postgres_deploy import deployed, pg_database, tables

SCHEDULES_AND_SENSORS = """query($s: RepositorySelector!) {
    schedulesOrError(repositorySelector: $s) { ... on Schedules { results { name scheduleState { status } } } }
    sensorsOrError(repositorySelector: $s) { ... on Sensors { results { name sensorState { status } } } } }"""


@pytest.fixture
def pg():
    with pg_database() as env:
        yield env


def test_webserver_and_daemon_share_one_postgres_database(tmp_path, pg):
    with deployed(tmp_path, pg) as d:
        d.wait_ready()  # the daemons' heartbeats, read by the webserver from PostgreSQL
        web, daemon = d.procs["webserver"], d.procs["daemon"]
        assert web.pid != daemon.pid and web.poll() is None and daemon.poll() is None

        # Runs, events and schedules in PostgreSQL; nothing kept in SQLite beside the instance.
        found = tables(pg)
        assert {"runs", "event_logs", "jobs", "job_ticks", "daemon_heartbeats", "concurrency_limits"} <= found, found
        assert not list(d.home.rglob("*.db")), list(d.home.rglob("*.db"))

        # The code location's schedule and sensors, running: the daemon will tick them.
        data = gql(d.port, SCHEDULES_AND_SENSORS, {"s": SELECTOR})
        schedules = {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}
        sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
        assert schedules == {"reevaluation_schedule": "RUNNING"}
        assert sensors.get("dvc_lock_sensor") == sensors.get("automation") == "RUNNING", sensors


def test_a_missing_connection_setting_is_named(tmp_path):
    """scripts/dagster-deploy refuses to start without the PostgreSQL connection, and says which."""
    import os
    import subprocess

    from tests.dvc_project import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PG_")}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), DAGSTER_PG_HOST="127.0.0.1")
    done = subprocess.run([str(ROOT / "scripts" / "dagster-deploy"), "daemon"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert "set DAGSTER_PG_PORT DAGSTER_PG_USER DAGSTER_PG_DB" in done.stderr, done.stderr
    assert not (tmp_path / "home").exists()  # nothing written before the settings are complete
