"""The horse2zebra study's rule (benchmarks/h2z_study.py, docs/fidelity.md): on synthetic rows, a
setting passes only with 3 seeds, a bound no worse than CycleGAN's mean and a map on the horses; a
measure a do-nothing row passes is dropped; the identity input's verdict. And the whole study at
tiny size on a horse2zebra subset (slow)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TINY_OVERRIDES
from tests.real_data import HORSE2ZEBRA, require

sys.path.insert(0, str(ROOT / "benchmarks"))
import h2z_study  # noqa: E402


def _row(variant, seed, p=0.8, mmd=10.0, outside=0.2, auc=0.7):
    row = {"variant": variant, "budget": 1, "seed": seed, "trained": True, "attention_auc_a2b": auc,
           "change_outside_a2b": outside}
    for d in ("a2b", "b2a"):
        row[f"learned_domain_probability_{d}"] = p
        row[f"learned_mmd_x100_{d}"] = mmd
    return row


def _refs(p=0.1, mmd=90.0, outside=0.0):
    rows = []
    for name in h2z_study.REFERENCE_ROWS:
        row = {"variant": name, "budget": None, "seed": None, "trained": False, "change_outside_a2b": outside}
        for d in ("a2b", "b2a"):
            row[f"learned_domain_probability_{d}"] = p
            row[f"learned_mmd_x100_{d}"] = mmd
        rows.append(row)
    return rows


def test_a_setting_better_on_every_measure_with_three_seeds_passes_and_is_the_recipe():
    rows = [_row("cyclegan", s, p=0.7, mmd=20, outside=0.3, auc=0.55) for s in range(3)]
    rows += [_row("spagan_paper", s, p=0.8 + 0.01 * s, mmd=10, outside=0.2, auc=0.7) for s in range(3)]
    rows += _refs(outside=0.5)
    verdict = h2z_study.apply_rule(rows)
    assert verdict["settings"]["spagan_paper"]["passes"], verdict
    assert verdict["recipe"] == "spagan_paper"


def test_a_map_below_the_centre_prior_fails_even_above_0_6():
    rows = [_row("cyclegan", s, p=0.7) for s in range(3)] + [_row("spagan_paper", s, p=0.8, auc=0.7) for s in range(3)]
    rows += _refs(outside=0.5) + [{"variant": "centre_prior_map", "budget": None, "seed": None, "trained": False,
                                   "attention_auc_a2b": 0.85}]
    verdict = h2z_study.apply_rule(rows)
    assert not verdict["settings"]["spagan_paper"]["passes"]
    assert verdict["settings"]["spagan_paper"]["checks"]["attention_auc_a2b"]["needed"] == 0.85


def test_one_seed_a_low_map_or_a_worse_bound_fails():
    rows = [_row("cyclegan", s, p=0.8) for s in range(3)]
    rows += [_row("spagan_no_fm", 0, p=0.9)]                                   # one seed
    rows += [_row("spagan_pre_act_blend", s, p=0.9, auc=0.55) for s in range(3)]  # map not on the horses
    rows += [_row("spagan_paper", s, p=0.7 + 0.1 * s) for s in range(3)]       # mean 0.8, bound below 0.8
    rows += _refs(outside=0.5)
    settings = h2z_study.apply_rule(rows)["settings"]
    assert not settings["spagan_no_fm"]["passes"] and "1 seed(s)" in settings["spagan_no_fm"]["reasons"][0]
    assert not settings["spagan_pre_act_blend"]["passes"]
    assert any("attention_auc" in r for r in settings["spagan_pre_act_blend"]["reasons"])
    assert not settings["spagan_paper"]["passes"]
    assert any("learned_domain_probability" in r for r in settings["spagan_paper"]["reasons"])


def test_a_measure_a_do_nothing_row_passes_is_dropped_from_the_rule():
    # the input returned unchanged leaves the background alone: outside change 0 beats everyone
    rows = [_row("cyclegan", s) for s in range(3)] + [_row("spagan_paper", s) for s in range(3)] + _refs(outside=0.0)
    verdict = h2z_study.apply_rule(rows)
    assert any(d.startswith("change_outside_a2b") for d in verdict["dropped"])
    assert "change_outside_a2b" not in verdict["settings"]["spagan_paper"]["checks"]
    # do-nothing rows as good as CycleGAN on every translation measure: no verdict at all
    rows = [_row("cyclegan", s, p=0.1, mmd=90) for s in range(3)] + _refs(p=0.2, mmd=80)
    assert h2z_study.apply_rule(rows)["why"].startswith("no verdict")


def test_no_verdict_before_cyclegan_has_three_seeds_and_the_identity_input_verdict():
    assert "no verdict yet" in h2z_study.apply_rule([_row("cyclegan", 0)] + _refs())["why"]
    base = [_row("cyclegan", s) for s in range(3)] + [_row("spagan_paper", s, p=0.8) for s in range(3)] + _refs()
    raw_ok = h2z_study.apply_rule(base + [_row("spagan_idt_raw", s, p=0.81) for s in range(3)])
    assert raw_ok["identity_input"]["default"] == "raw"
    raw_worse = h2z_study.apply_rule(base + [_row("spagan_idt_raw", s, p=0.7) for s in range(3)])
    assert raw_worse["identity_input"]["default"] == "attended"


@pytest.mark.slow
def test_the_study_at_tiny_size_on_a_horse2zebra_subset(tmp_path, monkeypatch):
    """prepare (report mode) is the real one on the full data; here the phases train, evaluate and
    collect run on a prepared subset with tiny networks."""
    require(HORSE2ZEBRA)
    from tests.real_data import horse2zebra_subset

    out = tmp_path / "study"
    horse2zebra_subset(tmp_path / "src", 6)
    spagan = ROOT / ".venv" / "bin" / "spagan"
    for name in ("h2z", "weizmann"):  # the Weizmann folder: the same subset (no masks): its block is absent
        subprocess.run([str(spagan), "prepare", "--source", str(tmp_path / "src"), "--out", str(out / name),
                        "--set", "data.dedupe=report", "--set", "data.min_images_per_split=2"], check=True)
    sets = [w for o in [*TINY_OVERRIDES, "train.image_size=32", "train.load_size=36", "model.ngf=8",
                        "model.n_blocks=1", "train.epochs=1", "train.epochs_decay=1", "eval.kid_subsets=2",
                        "eval.learned_classifier_epochs=1"] for w in ("--set", o)]
    study = [sys.executable, str(ROOT / "benchmarks" / "h2z_study.py")]
    rows = ["--rows", str(tmp_path / "rows")]  # never the repository's rows
    # train evaluates each run it finishes; evaluate then has nothing left to do
    for phase in ("train", "evaluate"):
        subprocess.run([*study, phase, "--out", str(out), *rows, "--only", "spagan_paper_b1_s0", "cyclegan_b1_s0",
                        *sets], check=True, timeout=900)
    assert sorted(p.name for p in (tmp_path / "rows").iterdir()) == [
        "cyclegan_b1_s0.json", "references.json", "spagan_paper_b1_s0.json"]
    subprocess.run([*study, "collect", "--out", str(out), *rows, "--json", str(tmp_path / "h2z.json")], check=True)
    report = json.loads((tmp_path / "h2z.json").read_text())
    variants = {r["variant"] for r in report["rows"]}
    assert {"spagan_paper", "cyclegan", "input_as_output", "constant_grey", "constant_mean"} <= variants
    paper = next(r for r in report["rows"] if r["variant"] == "spagan_paper")
    assert paper["learned_domain_probability_a2b"] is not None and paper["steps"] == 12
    assert "no verdict yet" in report["verdict"]["why"]
    # CycleGAN's rows carry the control for SPA-GAN's attention (None here: the subset has no masks)
    cyclegan = next(r for r in report["rows"] if r["variant"] == "cyclegan")
    assert "d_map_auc_a2b" in cyclegan and cyclegan["d_map_auc_a2b"] is None
