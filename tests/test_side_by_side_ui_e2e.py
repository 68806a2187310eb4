"""The side-by-side gallery of real photos in the Dagster UI: a real `dagster dev` on a project copy,
the `side_by_side_gallery` asset launched through GraphQL with a run config naming two models and
the Weizmann horses, its metadata read back and its page photographed as a user sees it.

The models are two tiny 2-step ones trained here, or, with SPAGAN_SIDE_BY_SIDE_MODELS=
"SPA-GAN=PATH,CycleGAN=PATH", real ones (docs/ui_side_by_side.png was taken so, with the
horse2zebra study's seed-0 models and SPAGAN_UI_SCREENSHOTS=docs). A slow test: a minute."""

import os
from pathlib import Path

import pytest

from spagan.config import load_config
from spagan.training.loop import train
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains
from tests.dagster_server import SELECTOR, dagster_dev_server, gql, keep_screenshot, launch, run_log
from tests.dagster_server import wait_for_location, wait_for_run
from tests.real_data import HORSE2ZEBRA, WEIZMANN, require
from tests.test_dagster_dev_e2e import CLICK_SHOW_MARKDOWN
from tests.ui_browser import chromium_available, photograph_markdown


def _models(tmp_path: Path) -> dict[str, str]:
    if given := os.environ.get("SPAGAN_SIDE_BY_SIDE_MODELS"):
        return dict(m.split("=", 1) for m in given.split(","))
    data = write_tiny_domains(tmp_path / "tiny")
    models = {}
    for name, extra in (("SPA-GAN", []), ("CycleGAN", ["model.attention=false", "train.lambda_fm=0"])):
        cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=2", *extra])
        models[name] = str(train(cfg, data, tmp_path / name, device="cpu").checkpoint)
    return models


@pytest.mark.slow
def test_side_by_side_of_real_horses_in_the_dagster_ui(tmp_path):
    require(HORSE2ZEBRA), require(WEIZMANN)
    (model_name, model), (compare_name, compare) = _models(tmp_path).items()
    config = {"model": model, "model_name": model_name, "compare": compare, "compare_name": compare_name,
              "images_a": str(WEIZMANN / "images"), "images_b": str(HORSE2ZEBRA / "testB"), "n": 4, "skip": 8}
    with dagster_dev_server(tmp_path) as server:
        wait_for_location(server.port, server.proc, server.log)
        params = {"selector": {**SELECTOR, "jobName": "__ASSET_JOB",
                               "assetSelection": [{"path": ["side_by_side_gallery"]}]},
                  "runConfigData": {"ops": {"side_by_side_gallery": {"config": config}}}}
        run_id = launch(server.port, params)
        status = wait_for_run(server.port, run_id, 300)
        assert status == "SUCCESS", f"run {run_id} ended {status}:\n{run_log(server.port, run_id)}"
        query = """{ assetOrError(assetKey: {path: ["side_by_side_gallery"]}) { ... on Asset {
                     assetMaterializations(limit: 1) { metadataEntries { label
                     ... on MarkdownMetadataEntry { mdStr } ... on TextMetadataEntry { text } } } } } }"""
        entries = gql(server.port, query)["assetOrError"]["assetMaterializations"][0]["metadataEntries"]
        by_label = {e["label"]: e.get("mdStr") or e.get("text") for e in entries}
        assert f"{model_name} attention | {model_name} translation | {compare_name} attention" in by_label["a2b"]
        assert "data:image/png;base64," in by_label["a2b"] and "data:image/png;base64," in by_label["b2a"]
        assert by_label[f"{model_name}_sha256"] != by_label[f"{compare_name}_sha256"]

        if chromium_available():  # as a user sees it: the asset page, "[Show Markdown]" of a2b clicked
            shot = photograph_markdown(f"http://127.0.0.1:{server.port}/assets/side_by_side_gallery",
                                       CLICK_SHOW_MARKDOWN.replace("LABEL", "a2b"), tmp_path / "ui_side_by_side.png")
            keep_screenshot(shot)
