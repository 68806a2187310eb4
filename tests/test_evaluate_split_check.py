"""`spagan evaluate` records whether the test split it scored is the source's, and warns when not."""

import json
import logging

import pytest

from spagan.config import load_config
from spagan.evaluation.evaluate import evaluate
from spagan.training.loop import train
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains


def _splits(test_a_source: int) -> dict:
    counts = {"trainA": 4, "trainB": 4, "testA": test_a_source, "testB": 4}
    return {name: {"source": n, "quarantined": 0, "duplicates": 0, "dropped": 0, "kept": n}
            for name, n in counts.items()}


@pytest.fixture(autouse=True)
def _no_real_weights(isolated_torch_hub):
    return isolated_torch_hub


def test_evaluate_records_and_warns_when_the_scored_test_split_is_not_the_sources(tmp_path, caplog):
    data = write_tiny_domains(tmp_path / "data" / "prepared")  # 4 images per split, as prepare lays them out
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=1", "eval.gallery_size=1"])
    ckpt = train(cfg, data, tmp_path / "run").checkpoint
    summary = tmp_path / "data" / "summary.json"  # beside prepared/, as prepare writes it
    # (the "same" case and the other sources of counts: tests/test_horse2zebra_prepare.py, without a model)
    summary.write_text(json.dumps({"data_version": "v", "splits": _splits(5)}))  # drop mode took one out
    with caplog.at_level(logging.WARNING, logger="spagan.evaluation.split_check"):
        metrics = evaluate(cfg.eval, ckpt, data, tmp_path / "differs", device="cpu")
    check = json.loads((tmp_path / "differs" / "metrics.json").read_text())["data"]["test_split"]
    assert check == metrics["data"]["test_split"] and check["status"] == "differs"
    assert check["testA"] == {"scored": 4, "source": 5} and "testA 4 of 5" in check["warning"]
    assert check["testB"] == {"scored": 4, "source": 4} and check["from"] == str(summary)
    assert "testA 4 of 5" in caplog.text and "not comparable" in caplog.text
