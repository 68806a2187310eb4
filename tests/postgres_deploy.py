"""Dagster as a team deploys it, for tests: a project copy served by `scripts/dagster-deploy webserver`
and `scripts/dagster-deploy daemon`, two separate processes on 127.0.0.1 sharing one PostgreSQL
database (deploy/dagster.yaml), and nothing else.

`pg_database()` makes a database of its own for one test (dropped after) on the server that
DAGSTER_PG_HOST/PORT/USER/PASSWORD name (default: 127.0.0.1:5432, user postgres, as on every
development machine and in CI, where .ci/run starts one); the test skips with the reason where no
server answers (a laptop without PostgreSQL) or dagster-postgres is not installed.
"""

import os
import secrets
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.dagster_server import (free_port, gql, instance_home, kill_processes_in, project_env,
                                  project_with_location, stop_group, wait_for_location)

PG = {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
      "DAGSTER_PG_PASSWORD": ""}
DAEMON_START_S = 180
DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required
               lastHeartbeatTime } } } }"""


def pg_env() -> dict[str, str]:
    """The connection the tests use: DAGSTER_PG_* from the environment, else the local default."""
    return {k: os.environ.get(k, v) for k, v in PG.items()}


def _connect(env: dict[str, str], db: str):
    import psycopg2  # dagster-postgres's driver

    conn = psycopg2.connect(host=env["DAGSTER_PG_HOST"], port=int(env["DAGSTER_PG_PORT"]),
                            user=env["DAGSTER_PG_USER"], password=env["DAGSTER_PG_PASSWORD"] or None,
                            dbname=db, connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return conn


@contextmanager
def pg_database() -> Iterator[dict[str, str]]:
    """DAGSTER_PG_* naming a new, empty database dagster_test_<random> (dropped after)."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres not installed (pip install -e '.[deploy]')")
    env = pg_env()
    try:
        admin = _connect(env, "postgres")
    except Exception as exc:  # psycopg2.OperationalError: no server, refused, auth
        pytest.skip(f"no PostgreSQL server at {env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']} "
                    f"(user {env['DAGSTER_PG_USER']}): {str(exc).strip()}")
    name = f"dagster_test_{secrets.token_hex(6)}"
    _execute(admin, f'CREATE DATABASE "{name}"')
    try:
        yield {**env, "DAGSTER_PG_DB": name}
    finally:  # a new connection: the server may have restarted meanwhile
        _execute(_connect(env, "postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # PostgreSQL 13+


def _execute(conn, statement: str) -> None:
    """Run one statement outside a transaction (psycopg2's `with conn` would open one), then close."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def tables(env: dict[str, str]) -> set[str]:
    """The tables in the public schema of env's database."""
    conn = _connect(env, env["DAGSTER_PG_DB"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


@dataclass
class Deployment:
    """Webserver and daemon of one project copy: separate processes, each with its own log."""
    repo: Path
    home: Path
    env: dict[str, str]
    port: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    starts: int = 0

    def log(self, service: str) -> Path:
        return self.repo.parent / f"{service}-{self.starts}.log"

    def start(self) -> None:
        """Start `scripts/dagster-deploy webserver` and `... daemon` (a session each)."""
        self.starts += 1
        for service in ("webserver", "daemon"):
            with open(self.log(service), "wb") as out:
                self.procs[service] = subprocess.Popen(
                    [str(self.repo / "scripts" / "dagster-deploy"), service], cwd=self.repo, env=self.env,
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        """Stop both as Ctrl-C would (SIGINT to each group; SIGKILL after 30 s)."""
        for proc in self.procs.values():
            stop_group(proc, timeout=30)

    def wait_ready(self) -> list[list[str]]:
        """The location's asset keys, once the webserver serves it and every required daemon
        (scheduler, sensors, queue...) has sent a healthy heartbeat to the shared database."""
        keys = wait_for_location(self.port, self.procs["webserver"], self.log("webserver"))
        deadline, statuses = time.monotonic() + DAEMON_START_S, []
        while time.monotonic() < deadline:
            assert self.procs["daemon"].poll() is None, f"daemon exited:\n{self.log('daemon').read_text()[-4000:]}"
            try:
                statuses = gql(self.port, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                statuses = []
            if statuses and all(s["healthy"] for s in statuses if s["required"]):
                return keys
            time.sleep(2)
        raise AssertionError(f"daemons not healthy after {DAEMON_START_S} s: {statuses}\n"
                             f"{self.log('daemon').read_text()[-4000:]}")


@contextmanager
def deployed(tmp_path: Path, pg: dict[str, str], params: dict | None = None) -> Iterator[Deployment]:
    """The project copy (tiny params, `params` merged) deployed on the database `pg` names: webserver
    and daemon started (not yet waited for); both stopped, and every process left in the copy, after."""
    repo = project_with_location(tmp_path, params, extra=("scripts/dagster-deploy", "deploy/dagster.yaml"))
    home = instance_home(tmp_path / "dagster_home", storage=True)
    port = free_port()
    env = {**project_env(repo, home), **pg, "DAGSTER_WEBSERVER_PORT": str(port)}
    deployment = Deployment(repo, home, env, port)
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()
        kill_processes_in(repo)
