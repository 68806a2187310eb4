"""A real `dagster dev` on a project copy, for end-to-end tests, and its GraphQL API.

`dagster_dev_server(tmp_path)` copies the project (tests/dvc_project.py) with the code location
(orchestration/, workspace.yaml), gives it a temporary DAGSTER_HOME holding the deployment's
instance config (deploy/dagster.yaml, less its PostgreSQL storage: `dagster dev` keeps SQLite in
DAGSTER_HOME), starts `dagster dev` on 127.0.0.1 and, on exit, stops it and every process it left
in the copy. tests/postgres_deploy.py runs the same copy as a team deploys it.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from spagan.evaluation.metrics.features import ENV_VAR
from tests.dvc_project import ROOT, git, make_project

LOCATION, REPOSITORY = "spagan", "__repository__"
SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
START_TIMEOUT_S = 240
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
              ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
              ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""


@dataclass
class Server:
    port: int
    repo: Path
    home: Path
    proc: subprocess.Popen
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.loads(resp.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def wait_for_location(port: int, proc: subprocess.Popen, log: Path) -> list[list[str]]:
    """Asset keys of the loaded code location, once the server answers and the location loaded."""
    query = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name
                   location { name } assetNodes { assetKey { path } } } } ... on PythonError { message } } }"""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dagster dev exited early:\n{log.read_text()[-4000:]}"
        try:
            nodes = gql(port, query)["repositoriesOrError"].get("nodes") or []
            if nodes:
                return [a["assetKey"]["path"] for a in nodes[0]["assetNodes"]]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    raise AssertionError(f"no code location after {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def asset_params(keys: list[list[str]]) -> dict:
    """ExecutionParams materializing `keys` (the implicit asset job)."""
    return {"selector": {**SELECTOR, "jobName": "__ASSET_JOB", "assetSelection": [{"path": k} for k in keys]},
            "runConfigData": {}}


def launch(port: int, params: dict) -> str:
    """Launch a run; its id."""
    answer = gql(port, LAUNCH, {"p": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]["runId"]


def run_status(port: int, run_id: str) -> str:
    query = 'query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }'
    return gql(port, query, {"id": run_id})["runOrError"]["status"]


def wait_for_run(port: int, run_id: str, timeout: float) -> str:
    """The run's status once it finished (or the last seen, after `timeout` seconds)."""
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        status = run_status(port, run_id)
        if status in FINISHED:
            break
        time.sleep(1)
    return status


def run_messages(port: int, run_id: str, last: int | None = 60) -> list[str]:
    """The messages of the run's events (the `last` ones; None: all)."""
    query = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
                 __typename ... on MessageEvent { message } } } } }"""
    events = gql(port, query, {"id": run_id})["logsForRun"].get("events") or []
    return [e.get("message", "") for e in (events if last is None else events[-last:])]


def run_log(port: int, run_id: str) -> str:
    return "\n".join(run_messages(port, run_id))


def processes_in(repo: Path) -> dict[int, str]:
    """{pid: command line} of the live (not zombie) processes working in `repo` (cwd inside it) or
    naming it on their command line."""
    found, root = {}, str(repo)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if state != "Z" and int(pid) != os.getpid() and (root in cmdline or cwd == root
                                                          or cwd.startswith(root + "/")):
            found[int(pid)] = cmdline.strip()
    return found


def project_with_location(tmp_path: Path, params: dict | None = None,
                          extra: tuple[str, ...] = ()) -> Path:
    """The project copy (tests/dvc_project.py, `params` merged) with the code location
    (orchestration/, workspace.yaml) and the files `extra` names, committed."""
    repo = make_project(tmp_path, params)
    for rel in ("orchestration", "workspace.yaml", *extra):
        src = ROOT / rel
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, repo / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / rel)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "code location")
    return repo


def instance_home(home: Path, storage: bool) -> Path:
    """`home` made a DAGSTER_HOME holding the deployment's instance config (queued runs, the pools),
    as docs/deploy.md ships it; without its `storage` section (SQLite in `home`) unless `storage`."""
    home.mkdir(parents=True, exist_ok=True)
    deployment = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    if not storage:
        deployment.pop("storage")
    deployment.update(telemetry={"enabled": False}, nux={"enabled": False})
    (home / "dagster.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
    return home


def project_env(repo: Path, home: Path) -> dict[str, str]:
    """The environment of Dagster's processes on the copy: its DAGSTER_HOME, its code first on the path."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(repo),
           "TORCH_HOME": str(repo.parent / "torch"), "DVC_NO_ANALYTICS": "1"}
    env.pop(ENV_VAR, None)
    return env


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGINT to the process group of `proc` (what Ctrl-C sends: Dagster shuts its children down),
    SIGKILL after `timeout` s; then SIGKILL to whatever of the group is left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    try:  # run workers and code servers of the group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_processes_in(repo: Path) -> None:
    """SIGKILL every process still working in the copy. DVC runs in a session of its own
    (orchestration/dvc_resource.py): a run still going when the server stopped may leave it behind."""
    for pid in processes_in(repo):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def dagster_dev_server(tmp_path: Path, params: dict | None = None) -> Iterator[Server]:
    """A running `dagster dev` on a project copy (`params` merged into its params.yaml); stopped
    (its process group, then any process still working in the copy) after."""
    repo = project_with_location(tmp_path, params)
    home = instance_home(tmp_path / "dagster_home", storage=False)
    env = project_env(repo, home)
    port, log = free_port(), tmp_path / "dagster_dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(repo / ".venv" / "bin" / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                                 "-w", "workspace.yaml"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield Server(port, repo, home, proc, log)
    finally:
        stop_group(proc)
        kill_processes_in(repo)


def keep_screenshot(png: Path) -> None:
    """With SPAGAN_UI_SCREENSHOTS=DIR, a copy of a test's screenshot in DIR (for docs and review)."""
    if os.environ.get("SPAGAN_UI_SCREENSHOTS"):
        shutil.copy(png, Path(os.environ["SPAGAN_UI_SCREENSHOTS"]) / png.name)


def chart_pixels(png: Path) -> int:
    """Pixels near the chart palette's orange and green (spagan.core.chart), which the Dagster UI
    itself does not use: how much of a training-curves picture a screenshot shows."""
    import numpy as np
    from PIL import Image

    from spagan.core.chart import PALETTE

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    near = [(np.abs(rgb - np.array(c)).sum(-1) < 40) for c in (PALETTE[1], PALETTE[2])]
    return int((near[0] | near[1]).sum())
