"""End to end through a real `dagster dev`: a project copy with tiny params, a temporary
DAGSTER_HOME, every asset materialized by one run launched through the GraphQL API (data assets
-> `dvc repro train` -> evaluation), outputs checked on disk and through GraphQL, the
re-evaluation schedule and the automation sensor listed, then the server stopped."""

import json
import time

import pytest

from tests.dagster_server import (SELECTOR, asset_params, chart_pixels, dagster_dev_server, free_port, gql,
                                  keep_screenshot, launch, wait_for_location, wait_for_run)
from tests.ui_browser import browser_page, chromium_available
from tests.dagster_server import run_log as _run_log
from tests.dvc_project import dvc

RUN_TIMEOUT_S = 420
# Clicks "[Show Markdown]" in the metadata row LABEL of an asset page; true once clicked.
CLICK_SHOW_MARKDOWN = """(() => {
    const row = [...document.querySelectorAll('tr')].find(r => r.textContent.trim().startsWith('LABEL'));
    const link = row && [...row.querySelectorAll('*')].find(e => e.textContent.trim() === '[Show Markdown]'
                                                               && e.children.length === 0);
    if (!link) return false;
    link.click();
    return true;
})()"""
# The names other tests import from here (the helpers now live in tests/dagster_server.py).
_gql, _wait_for_location, _free_port = gql, wait_for_location, free_port


@pytest.fixture
def dagster_dev(tmp_path):
    """(port, repo, process, log) of a running `dagster dev` on a project copy; stopped after."""
    with dagster_dev_server(tmp_path) as server:
        yield server.port, server.repo, server.proc, server.log


def test_dagster_dev_materializes_every_asset(dagster_dev):
    port, repo, proc, log = dagster_dev
    keys = wait_for_location(port, proc, log)
    names = {"/".join(k) for k in keys}
    assert {"raw_images", "validated_manifest", "trained_model", "evaluation_scores", "attention_galleries"} <= names

    params = asset_params(keys)
    run_id = launch(port, params)
    status = wait_for_run(port, run_id, RUN_TIMEOUT_S)
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
    mats = gql(port, asset_q)["assetOrError"]["assetMaterializations"]
    entries = {e["label"]: e.get("text") for e in mats[0]["metadataEntries"]}
    assert mats[0]["runId"] == run_id and entries["model_sha256"] == lineage["model"]["sha256"]

    # trained_model shows the training: the curves picture, the newest preview, which checkpoint was
    # published and why (markdown metadata), and in the UI the picture is on the asset's page.
    model_q = """{ assetOrError(assetKey: {path: ["trained_model"]}) { ... on Asset {
                   assetMaterializations(limit: 1) { metadataEntries { label
                   ... on MarkdownMetadataEntry { mdStr } ... on TextMetadataEntry { text } } } } } }"""
    mats = gql(port, model_q)["assetOrError"]["assetMaterializations"]
    model_meta = {e["label"]: e.get("mdStr") or e.get("text") for e in mats[0]["metadataEntries"]}
    assert model_meta["training_curves"].startswith("![training curves](data:image/png;base64,")
    assert "data:image/png;base64," in model_meta["latest_preview"]
    assert model_meta["published_checkpoint"] == f"last: step {lineage['model']['steps']} (train.publish=last)"
    if chromium_available():  # as a user sees it: the asset page, "[Show Markdown]" of training_curves clicked
        shot = repo.parent / "ui_trained_model_curves.png"
        with browser_page(f"http://127.0.0.1:{port}/assets/trained_model") as page:
            page.wait_for(CLICK_SHOW_MARKDOWN.replace("LABEL", "training_curves"))
            page.wait_for("[...document.images].some(i => i.src.startsWith('data:image/png') && "
                          "i.naturalWidth === 720 && i.getBoundingClientRect().width > 0)")
            time.sleep(2.0)  # the dialog fades in
            page.screenshot(shot)
        keep_screenshot(shot)
        assert chart_pixels(shot) > 200, f"{shot}: no training curves on the asset page"

    # The re-evaluation schedule (cron from the copy's params) and the automation sensor are listed, running.
    sched_q = """query($s: RepositorySelector!) {
        schedulesOrError(repositorySelector: $s) { ... on Schedules { results { name cronSchedule
            scheduleState { status } } } }
        sensorsOrError(repositorySelector: $s) { ... on Sensors { results { name sensorState { status } } } } }"""
    data = gql(port, sched_q, {"s": SELECTOR})
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    assert schedules["reevaluation_schedule"]["cronSchedule"] == "0 3 * * *"
    assert schedules["reevaluation_schedule"]["scheduleState"]["status"] == "RUNNING"
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert sensors.get("automation") == sensors.get("dvc_lock_sensor") == "RUNNING"

    # Two training materializations requested at once: the `gpu` pool (one slot in deploy/dagster.yaml)
    # makes the queue run them one after the other.
    params["selector"]["assetSelection"] = [{"path": ["trained_model"]}]
    runs = [launch(port, params) for _ in range(2)]
    times_q = 'query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }'
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        done = [gql(port, times_q, {"id": r})["runOrError"] for r in runs]
        if all(d["status"] in ("SUCCESS", "FAILURE", "CANCELED") for d in done):
            break
        time.sleep(2)
    assert [d["status"] for d in done] == ["SUCCESS", "SUCCESS"], [_run_log(port, r) for r in runs]
    first, second = sorted(done, key=lambda d: d["startTime"])
    assert second["startTime"] >= first["endTime"], done
