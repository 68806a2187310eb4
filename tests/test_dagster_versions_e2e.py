"""Staleness and checks as a `dagster dev` user meets them, after a shell `dvc repro`.

A real `dagster dev` on 127.0.0.1 in a project copy; the whole pipeline made from a shell with a
dataset that breaks a data check (max_quarantine_fraction below the demo's planted broken file).
The dvc.lock sensor records every asset, the automation sensor runs the checks on those
recorded versions (the quarantine check fails on them), and GraphQL's staleness answers what
the UI shows: everything FRESH while `dvc status` is clean; trained_model STALE (a new code
version) after a training file is edited and the code location reloaded, the data assets STALE
after an image is added to the raw source; `dvc status` agrees each time.
"""

import json
import os
import time
from pathlib import Path

import pytest

from tests.dagster_server import dagster_dev_server, gql, wait_for_location
from tests.ui_browser import browser_page, chromium_available
from tests.dvc_project import dvc

pytestmark = pytest.mark.slow  # about 4 minutes: a server start, a shell repro and sensor ticks (30 s each)
WAIT_S = 240

NODES = """{ assetNodes { assetKey { path } staleStatus staleCauses { reason category key { path } }
             assetMaterializations(limit: 1) { runId }
             assetChecksOrError { ... on AssetChecks { checks { name
                 executionForLatestMaterialization { status evaluation { success } } } } } } }"""
RUNS = """{ runsOrError { ... on Runs { results { runId status assetSelection { path }
            assetCheckSelection { name } } } } }"""
RELOAD = """mutation { reloadRepositoryLocation(repositoryLocationName: "spagan") { __typename
             ... on WorkspaceLocationEntry { locationOrLoadError { __typename } } } }"""
PIPELINE = ("raw_images", "deduplicated_images", "validated_manifest", "trained_model", "evaluation_scores",
            "attention_galleries")


def _nodes(port: int) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in gql(port, NODES)["assetNodes"]}


def _until(port: int, what: str, ok) -> dict[str, dict]:
    deadline, nodes = time.monotonic() + WAIT_S, {}
    while time.monotonic() < deadline:
        nodes = _nodes(port)
        if ok(nodes):
            return nodes
        time.sleep(3)
    raise AssertionError(f"{what} not seen within {WAIT_S} s: {json.dumps(nodes, indent=1)[:6000]}")


def _checks(node: dict) -> dict[str, str | None]:
    """check name -> SUCCEEDED / FAILED / ... of its execution for the latest materialization (None: none)."""
    out = {}
    for c in (node.get("assetChecksOrError") or {}).get("checks") or []:
        ex = c["executionForLatestMaterialization"]
        out[c["name"]] = None if ex is None else ex["status"]
    return out


def _screenshot(port: int, page: str, name: str) -> None:
    """With SPAGAN_UI_SCREENSHOTS=DIR and Chromium installed: the page as a user sees it, in DIR."""
    folder = os.environ.get("SPAGAN_UI_SCREENSHOTS")
    if not folder or not chromium_available():
        return
    with browser_page(f"http://127.0.0.1:{port}{page}", 1600, 1000) as shown:
        time.sleep(5)  # the page's live data
        out = shown.screenshot(Path(folder) / name)
    assert out.stat().st_size > 10_000, out  # a rendered page, not a blank one


def _until_runs_end(port: int) -> list[dict]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        runs = gql(port, RUNS)["runsOrError"]["results"]
        if all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
            return runs
        time.sleep(3)
    raise AssertionError(f"runs still going after {WAIT_S} s: {runs}")


def _reload(port: int) -> None:
    answer = gql(port, RELOAD)["reloadRepositoryLocation"]
    assert answer["locationOrLoadError"]["__typename"] == "RepositoryLocation", answer


@pytest.fixture
def server(tmp_path):
    # A dataset that breaks a data check: the demo plants one broken file, 1 % allowed.
    with dagster_dev_server(tmp_path, {"data": {"max_quarantine_fraction": 0.01}}) as s:
        yield s


def test_shell_repro_is_recorded_checked_and_staleness_follows_dvc_status(server):
    port, repo = server.port, server.repo
    wait_for_location(port, server.proc, server.log)
    dvc(repo, "repro")

    # The sensor records all six from dvc.lock; the automation sensor runs every check on them. (When
    # a sensor tick falls between the shell's train and evaluate stages, the model is recorded
    # unevaluated and automation also launches the evaluation, which DVC finds up to date.)
    _until(port, "sensor-recorded assets with checked versions", lambda n: all(
        n[a]["assetMaterializations"] for a in PIPELINE) and all(
        status in ("SUCCEEDED", "FAILED") for a in PIPELINE for status in _checks(n[a]).values()))
    runs = _until_runs_end(port)
    made_by_runs = {"/".join(k["path"]) for r in runs for k in r["assetSelection"] or []}
    assert not made_by_runs & {"raw_images", "deduplicated_images", "validated_manifest", "trained_model"}, runs
    assert runs and all(r["assetCheckSelection"] for r in runs)  # what automation launched: check runs
    nodes = _nodes(port)
    assert _checks(nodes["raw_images"]) == {"quarantine_fraction": "FAILED"}  # the broken check, on that version
    assert _checks(nodes["deduplicated_images"]) == {"no_train_test_leakage": "SUCCEEDED"}
    assert set(_checks(nodes["validated_manifest"]).values()) == {"SUCCEEDED"}
    assert _checks(nodes["evaluation_scores"]) == {"no_regression": "SUCCEEDED"}  # first: nothing to compare
    fresh = {a: nodes[a]["staleStatus"] for a in PIPELINE}
    assert set(fresh.values()) == {"FRESH"}, fresh
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}  # and DVC agrees: nothing to do

    # A training code file edited, the location reloaded: trained_model has a new code version.
    losses = repo / "spagan" / "training" / "losses.py"
    losses.write_text(losses.read_text() + "# an edit\n")
    _reload(port)
    nodes = _nodes(port)
    assert nodes["trained_model"]["staleStatus"] == "STALE"
    assert {c["category"] for c in nodes["trained_model"]["staleCauses"]} == {"CODE"}
    assert nodes["raw_images"]["staleStatus"] == nodes["validated_manifest"]["staleStatus"] == "FRESH"
    status = json.loads(dvc(repo, "status", "--json").stdout)
    assert set(status) == {"train"} and "spagan/training" in json.dumps(status["train"]), status
    _screenshot(port, "/assets/trained_model", "stale_trained_model.png")

    # An image added to the raw source: observed by the dvc_lock_sensor, the data assets go stale.
    (repo / "data" / "raw" / "extra.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    nodes = _until(port, "raw_images stale after the raw source changed",
                   lambda n: n["raw_images"]["staleStatus"] == "STALE")
    causes = nodes["raw_images"]["staleCauses"]
    assert {(tuple(c["key"]["path"]), c["category"]) for c in causes} == {(("raw_source",), "DATA")}, causes
    assert "prepare" in json.loads(dvc(repo, "status", "--json").stdout)
