"""The fidelity study (benchmarks/fidelity_study.py) run for real at tiny size: runs train once
and resume, rows per variant, budget and seed with every yardstick measure, the post-hoc and
reference rows, the rule's verdict; two train processes never take the same run."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from spagan.data.demo import generate_demo
from tests.conftest import ROOT, TINY_OVERRIDES

STUDY = ROOT / "benchmarks" / "fidelity_study.py"
SETS = [w for o in [*TINY_OVERRIDES, "train.image_size=32", "eval.kid_subsets=3"] for w in ("--set", o)]
RUNS = ["cyclegan_b1_s0", "spagan_pre_act_blend_b1_s0"]


def _run(*args):
    done = subprocess.run([sys.executable, STUDY, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    generate_demo(tmp / "data", size=32, train_per_domain=8, test_per_domain=4, planted_duplicates=0,
                  planted_broken=0)
    # 1x at the tiny schedule: 1 + 1 epochs of 8 images = 16 steps, fully decayed
    _run("train", "--data", tmp / "data", "--out", tmp / "runs", "--only", *RUNS, *SETS)
    _run("evaluate", "--data", tmp / "data", "--out", tmp / "runs", "--only", *RUNS, *SETS)
    return tmp


def test_rows_per_run_with_the_yardstick_and_the_post_hoc_and_reference_rows(study):
    out = study / "fidelity.json"
    shown = _run("collect", "--out", study / "runs", "--json", out, "--plot", study / "study.png").stdout
    report = json.loads(out.read_text())
    rows = {r["variant"]: r for r in report["rows"]}
    assert set(rows) == {"cyclegan", "spagan_pre_act_blend", "cyclegan_posthoc_blend", "input_as_output",
                         "counterpart_as_output"}
    for name in ("cyclegan", "spagan_pre_act_blend"):
        r = rows[name]
        assert (r["budget"], r["seed"], r["steps"], r["trained"]) == (1, 0, 16, True)
        for d in ("a2b", "b2a"):
            assert r[f"object_translation_{d}"] is not None and r[f"background_l1_{d}"] is not None
    assert rows["cyclegan"]["attention_auc_a2b"] == 0.5  # no map: chance
    assert rows["cyclegan_posthoc_blend"]["trained"] is False
    assert rows["cyclegan_posthoc_blend"]["background_l1_generator_a2b"] == pytest.approx(
        rows["cyclegan"]["background_l1_a2b"], abs=1e-3)
    assert rows["input_as_output"]["object_translation_a2b"] == 0.0
    assert rows["counterpart_as_output"]["object_translation_b2a"] == 1.0
    verdict = report["verdict"]["settings"]["spagan_pre_act_blend"]
    assert verdict["passes"] is False and any("1 seed(s)" in r for r in verdict["reasons"])
    assert report["verdict"]["ships"] == "spagan_paper"  # nothing passed: the paper's reading
    assert "| spagan_pre_act_blend | 1x | 1 |" in shown and (study / "study.png").stat().st_size > 10_000


def test_a_finished_run_is_neither_trained_nor_evaluated_again(study):
    before = {p: p.stat().st_mtime_ns for p in (study / "runs").rglob("*.json")}
    _run("train", "--data", study / "data", "--out", study / "runs", "--only", *RUNS, *SETS)
    _run("evaluate", "--data", study / "data", "--out", study / "runs", "--only", *RUNS, *SETS)
    assert {p: p.stat().st_mtime_ns for p in (study / "runs").rglob("*.json")} == before


def test_a_run_held_by_a_live_process_is_left_to_it_and_a_stale_lock_is_taken_over(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from fidelity_study import LOCK_NAME, claim
    finally:
        sys.path.pop(0)
    held, stale = tmp_path / "held", tmp_path / "stale"
    held.mkdir()
    (held / LOCK_NAME).write_text(str(os.getppid()))  # a live process that is not this one
    assert claim(held) is False
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale.mkdir()
    (stale / LOCK_NAME).write_text(dead.stdout.strip())
    assert claim(stale) is True and (stale / LOCK_NAME).read_text() == str(os.getpid())
    assert claim(stale) is True  # this process's own claim holds


def test_diagnosis_statistics_and_pictures(study):
    diagnosis = ROOT / "benchmarks" / "fidelity_diagnosis.py"
    out = study / "diag"
    ckpt = study / "runs" / "spagan_pre_act_blend_b1_s0" / "train" / "checkpoint.pt"
    done = subprocess.run([sys.executable, diagnosis, "--checkpoint", ckpt, "--data", study / "data", "--out", out,
                           "--rows", "3"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "diagnosis.json").read_text())
    for d in ("a2b", "b2a"):
        stats = report[d]
        assert stats["images"] == 4
        assert 0.0 <= stats["attention_background"] <= 1.0 and 0.0 <= stats["background_l1"] <= 1.0
        with Image.open(out / f"{d}.png") as im:
            assert im.size == (7 * 32, 3 * 32)  # seven columns, one row per image, at the crop size
