"""evaluate(): metrics.json, galleries and the feature cache on a 2-step checkpoint; the CLI."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.inception import Inception3

from spagan.cli import main
from spagan.config import load_config
from spagan.evaluation.evaluate import evaluate
from spagan.evaluation.gallery import COLUMNS, PADDING
from spagan.evaluation.metrics.features import KNOWN_WEIGHTS
from spagan.training.loop import train
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains


@pytest.fixture(autouse=True)
def _no_real_weights(isolated_torch_hub):
    return isolated_torch_hub


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny data with masks and a data version, a 2-step checkpoint, and random Inception weights."""
    root = tmp_path_factory.mktemp("eval")
    data = write_tiny_domains(root / "data")
    mask = np.zeros((40, 40), np.uint8)
    mask[8:30, 8:30] = 255
    for folder in ("testA_mask", "masks/testB"):  # the prepared layout and the plain one
        (data / folder).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(mask).save(data / folder / f"{i:03d}.png")
    (root / "summary.json").write_text(json.dumps({"data_version": "demo-v1"}))  # beside data/, as prepare does
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=2"])
    ckpt = train(cfg, data, root / "run").checkpoint
    torch.manual_seed(0)
    weights = root / "my_inception.pth"
    torch.save(Inception3(aux_logits=True, init_weights=False).state_dict(), weights)
    return data, ckpt, weights


def _eval_cfg(*extra):
    return load_config(ROOT / "params.yaml", ["eval.kid_subsets=5", "eval.gallery_size=3", *extra]).eval


def test_metrics_json_gallery_and_cache(trained, tmp_path):
    data, ckpt, weights = trained
    cfg = _eval_cfg(f"eval.inception_weights={weights}")
    m = evaluate(cfg, ckpt, data, tmp_path / "out", device="cpu", cache_dir=tmp_path / "cache")
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == m
    assert m["checkpoint"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert m["data"]["data_version"] == "demo-v1"
    feats = m["settings"]["features"]
    assert feats["weights_file"] == "my_inception.pth" and feats["graph"] == "torchvision"
    assert feats["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    for name in ("a2b", "b2a"):
        d = m[name]
        assert np.isfinite(d["kid_x100"]["mean"]) and d["kid_x100"]["std"] >= 0
        assert d["kid_x100"]["subset_size"] == 4 and d["n_masks"] == 4
        assert 0 <= d["attention_in_mask"] <= 1 and 0 <= d["attention_auc"] <= 1
        assert 0 <= d["background_l1"] <= 1 and 0 <= d["success_share"] <= 1
        png = Image.open(tmp_path / "out" / d["gallery"])
        assert png.size == (len(COLUMNS) * 32 + 5 * PADDING, 3 * 32 + 4 * PADDING)
        assert len(d["gallery_files"]) == 3
    assert m["run"]["feature_cache"]["misses"] == 16  # 4 real + 4 translated images per direction

    again = evaluate(cfg, ckpt, data, tmp_path / "out2", device="cpu", cache_dir=tmp_path / "cache")
    assert again["run"]["feature_cache"] == {**m["run"]["feature_cache"], "hits": 16, "misses": 0}
    numbers = lambda kid: {k: v for k, v in kid.items() if k in ("mean", "std")}
    assert numbers(again["a2b"]["kid_x100"]) == pytest.approx(numbers(m["a2b"]["kid_x100"]), rel=1e-6)
    assert again["a2b"]["kid_x100"]["note"] == m["a2b"]["kid_x100"]["note"]  # the sample, said alike
    assert again["a2b"]["gallery_files"] == m["a2b"]["gallery_files"]  # seeded sample


def test_without_weights_kid_is_unavailable_but_everything_else_is_written(trained, tmp_path):
    data, ckpt, _ = trained
    m = evaluate(_eval_cfg(), ckpt, data, tmp_path / "out", device="cpu")
    for name in ("a2b", "b2a"):
        kid = m[name]["kid_x100"]
        assert kid["status"] == "unavailable" and "mean" not in kid
        weights = KNOWN_WEIGHTS["fid"]  # the default
        assert weights.file_name in kid["reason"] and weights.url in kid["fix"]
        assert m[name]["success_share"] is not None and m[name]["n_masks"] == 4
        assert (tmp_path / "out" / m[name]["gallery"]).is_file()
    assert m["run"]["feature_cache"] is None


def test_cli_prints_table_and_reports_user_errors(trained, tmp_path, capsys):
    data, ckpt, _ = trained
    args = ["evaluate", "--checkpoint", str(ckpt.parent), "--data", str(data), "--out", str(tmp_path / "out"),
            "--params", str(ROOT / "params.yaml"), "--set", "eval.kid_subsets=2", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "KID x100" in out and "unavailable" in out and "KID not computed" in out and "demo-v1" in out
    assert (tmp_path / "out" / "metrics.json").is_file()
    assert main(args[:4] + [str(tmp_path / "missing")] + args[5:]) == 2
    assert "missing" in capsys.readouterr().err
