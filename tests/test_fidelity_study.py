"""The background-fidelity study and diagnosis scripts (benchmarks/), run for real at tiny size:
rows at each budget from one resumed run, the merged JSON and plot, the diagnosis pictures."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, TINY_OVERRIDES

STUDY = ROOT / "benchmarks" / "fidelity_study.py"
DIAGNOSIS = ROOT / "benchmarks" / "fidelity_diagnosis.py"
ROW_KEYS = {f"{m}_{d}" for m in ("background_l1", "attention_auc", "attention_in_mask", "classified_as_target")
            for d in ("a2b", "b2a")}


def _run(*args):
    done = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from tests.conftest import write_tiny_domains

    tmp = tmp_path_factory.mktemp("study")
    data = write_tiny_domains(tmp / "data")
    for split in ("testA", "testB"):  # object masks: the square the tiny A images carry
        (data / f"{split}_mask").mkdir()
        mask = np.zeros((40, 40), np.uint8)
        mask[8:30, 8:30] = 255
        for image in (data / split).iterdir():
            Image.fromarray(mask).save(data / f"{split}_mask" / image.name)
    sets = [w for o in TINY_OVERRIDES for w in ("--set", o)]
    for variant in ("spagan_pre_act_blend", "cyclegan"):  # 1x = 2 epochs x 4 images = 8 steps
        _run(STUDY, "--data", data, "--out", tmp / "runs", "--variant", variant, "--budgets", "0.5", "1", *sets)
    return tmp, data


def test_one_run_per_variant_gives_a_row_at_each_budget(study):
    tmp, _ = study
    out = tmp / "study.json"
    shown = _run(STUDY, "--collect", tmp / "runs", "--json", out, "--plot", tmp / "study.png").stdout
    rows = json.loads(out.read_text())
    assert [(r["variant"], r["steps"]) for r in rows] == [
        ("cyclegan", 4), ("cyclegan", 8), ("spagan_pre_act_blend", 4), ("spagan_pre_act_blend", 8)]
    for row in rows:
        assert ROW_KEYS <= set(row) and 0.0 <= row["background_l1_a2b"] <= 1.0
        assert "linear decay" in row["lr"]
    assert {r["attention_auc_a2b"] for r in rows if r["variant"] == "cyclegan"} == {0.5}  # no map: chance
    assert (tmp / "runs" / "cyclegan" / "checkpoint_4.pt").is_file()  # each budget's checkpoint kept
    assert "| spagan_pre_act_blend | 8 |" in shown
    with Image.open(tmp / "study.png") as im:
        assert im.size[0] > 500


def test_a_finished_budget_is_not_trained_again(study):
    tmp, data = study
    rows = (tmp / "runs" / "cyclegan" / "rows.json").read_text()
    sets = [w for o in TINY_OVERRIDES for w in ("--set", o)]
    _run(STUDY, "--data", data, "--out", tmp / "runs", "--variant", "cyclegan", "--budgets", "0.5", "1", *sets)
    assert (tmp / "runs" / "cyclegan" / "rows.json").read_text() == rows


def test_diagnosis_statistics_and_pictures(study):
    tmp, data = study
    out = tmp / "diag"
    _run(DIAGNOSIS, "--checkpoint", tmp / "runs" / "spagan_pre_act_blend" / "checkpoint_8.pt", "--data", data,
         "--out", out, "--rows", 3)
    report = json.loads((out / "diagnosis.json").read_text())
    for d in ("a2b", "b2a"):
        stats = report[d]
        assert stats["images"] == 4
        assert 0.0 <= stats["attention_background"] <= 1.0 and 0.0 <= stats["background_l1"] <= 1.0
        with Image.open(out / f"{d}.png") as im:
            assert im.size == (7 * 32, 3 * 32)  # seven columns, one row per image, at the crop size
