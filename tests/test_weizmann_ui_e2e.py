"""The attention gallery of real photos in the Dagster UI: a project copy whose data.source (in
data/raw/) is horse2zebra's training images with the Weizmann horses as a masked testA, every
asset materialized in a real `dagster dev` (prepare -> `dvc repro train` -> `dvc repro evaluate`),
the evaluation's real-mask measures checked through GraphQL, and the attention_galleries page
photographed as a user sees it (SPAGAN_UI_SCREENSHOTS=DIR keeps the screenshot; docs/
ui_weizmann_gallery.png was taken so). Minutes: a slow test."""

import json

import pytest

from spagan.data.masked_source import build_masked_source
from tests.dagster_server import asset_params, dagster_dev_server, gql, keep_screenshot, launch, wait_for_location
from tests.dagster_server import run_log, wait_for_run
from tests.real_data import HORSE2ZEBRA, WEIZMANN, require
from tests.test_dagster_dev_e2e import CLICK_SHOW_MARKDOWN
from tests.ui_browser import chromium_available, photograph_markdown

SOURCE = "data/raw/weizmann_h2z"
# 64 px with one PatchGAN layer (the paper's geometry at 64 px); a short training: the point is the
# pipeline on photos of varying sizes with masks, not the model.
PARAMS = {"data": {"source": SOURCE},
          "model": {"n_layers_d": 1, "ngf": 8, "ndf": 32, "n_blocks": 2},
          "train": {"image_size": 64, "load_size": 72, "max_steps": 60}, "watch": {"checkpoint_every": 60},
          "eval": {"gallery_size": 4}}
PER_SPLIT = {"trainA": 40, "trainB": 40, "testA": 16, "testB": 8}


@pytest.mark.slow
def test_weizmann_gallery_of_real_horses_in_the_dagster_ui(tmp_path):
    require(HORSE2ZEBRA), require(WEIZMANN)
    with dagster_dev_server(tmp_path, PARAMS) as server:
        build_masked_source(server.repo / SOURCE, benchmark=HORSE2ZEBRA, masked_images=WEIZMANN / "images",
                            masks=WEIZMANN / "masks", per_split=PER_SPLIT)
        keys = wait_for_location(server.port, server.proc, server.log)
        run_id = launch(server.port, asset_params(keys))
        status = wait_for_run(server.port, run_id, 900)
        assert status == "SUCCESS", f"run {run_id} ended {status}:\n{run_log(server.port, run_id)}"

        metrics = json.loads((server.repo / "eval" / "metrics.json").read_text())
        block = metrics["a2b"]["real_masks"]
        assert block["n_images"] >= 14 and block["attention"]["uniform"]["auc"] == 0.5  # dedupe may drop a copy
        assert block["change"]["input_as_output"]["outside"] == 0.0
        query = """{ assetOrError(assetKey: {path: ["attention_galleries"]}) { ... on Asset {
                     assetMaterializations(limit: 1) { metadataEntries { label
                     ... on MarkdownMetadataEntry { mdStr } } } } } }"""
        entries = gql(server.port, query)["assetOrError"]["assetMaterializations"][0]["metadataEntries"]
        a2b = next(e["mdStr"] for e in entries if e["label"] == "a2b")
        assert "attention ROC AUC" in a2b and "data:image/png;base64," in a2b

        if chromium_available():  # as a user sees it: the asset page, "[Show Markdown]" of a2b clicked
            shot = photograph_markdown(f"http://127.0.0.1:{server.port}/assets/attention_galleries",
                                       CLICK_SHOW_MARKDOWN.replace("LABEL", "a2b"),
                                       tmp_path / "ui_weizmann_gallery.png")
            keep_screenshot(shot)
