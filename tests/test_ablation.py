"""Ablation: three variants trained with the same budget and evaluated; the table, the CLI and
the Dagster `ablation` job (tiny models, 2 steps, CPU)."""

import json

import dagster as dg
import numpy as np
import pytest
import yaml
from PIL import Image

from orchestration.dvc_resource import DvcCli
from orchestration.jobs import ablation
from orchestration.resources import DataPaths
from spagan.cli import main
from spagan.evaluation.ablation import JSON_NAME, ROWS, TABLE_NAME, VARIANTS, run_ablation
from spagan.evaluation.metrics.features import ENV_VAR
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains

OVERRIDES = [*TINY_OVERRIDES, "train.max_steps=2", "eval.gallery_size=2"]


@pytest.fixture(autouse=True)
def _no_real_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(ENV_VAR, raising=False)


def _data_with_masks(root):
    data = write_tiny_domains(root)
    mask = np.zeros((40, 40), np.uint8)
    mask[8:30, 8:30] = 255
    for split in ("testA", "testB"):
        (data / f"{split}_mask").mkdir()
        for i in range(4):
            Image.fromarray(mask).save(data / f"{split}_mask" / f"{i:03d}.png")
    # the fraction of a 32 px image the mask covers (evaluate resizes masks nearest-neighbour)
    return data, float((np.asarray(Image.fromarray(mask).resize((32, 32), Image.NEAREST)) > 127).mean())


def test_three_variants_same_budget_one_table(tmp_path):
    data, mask_share = _data_with_masks(tmp_path / "data")
    report = run_ablation(ROOT / "params.yaml", data, tmp_path / "abl", overrides=OVERRIDES, device="cpu",
                          command="spagan ablation ...")
    names = list(VARIANTS)
    assert list(report["variants"]) == names
    on_disk = json.loads((tmp_path / "abl" / JSON_NAME).read_text())
    assert on_disk["table"] == report["table"]
    # same budget: every variant ran the same 2 steps from scratch on the same data
    steps = {n: v["train"]["steps"] for n, v in report["variants"].items()}
    assert set(steps.values()) == {2} and all(v["train"]["resumed_from"] == 0 for v in report["variants"].values())
    # each variant trained with its overrides (the resolved config written next to the run)
    resolved = {n: yaml.safe_load((tmp_path / "abl" / n / "train" / "config.yaml").read_text()) for n in names}
    paper, no_fm = resolved["spagan_paper"], resolved["spagan_paper_no_fm"]
    assert paper["train"]["lambda_fm"] == 1.0 and paper["model"]["attention"] is True
    assert (paper["model"]["attention_features"], paper["model"]["attention_blend"]) == ("post_act", False)
    assert no_fm["train"]["lambda_fm"] == 0.0 and no_fm["model"]["attention"] and not no_fm["model"]["attention_blend"]
    assert resolved["cyclegan"]["model"]["attention"] is False and resolved["cyclegan"]["train"]["lambda_fm"] == 0.0
    # one row per metric and direction plus the budget rows, one column per variant
    rows = {r["metric"]: r for r in report["table"]}
    assert len(report["table"]) == len(ROWS) + 2 and set(names) <= set(rows["attention in mask a2b"])
    # the baseline has no attention (all ones): the share inside the mask is the mask's area
    assert rows["attention in mask a2b"]["cyclegan"] == pytest.approx(mask_share, abs=1e-6)
    assert rows["KID x100 a2b"]["spagan_paper"] is None  # offline: not computed, never invented
    for n in names:
        a2b = report["variants"][n]["metrics"]["a2b"]
        assert rows["background L1 [0,1] a2b"][n] == pytest.approx(a2b["background_l1"])
        assert (tmp_path / "abl" / n / "eval" / "gallery" / "a2b.png").is_file()
    text = (tmp_path / "abl" / TABLE_NAME).read_text()
    assert "spagan ablation ..." in text
    assert "| metric | better | spagan_paper | spagan_paper_no_fm | cyclegan |" in text


def test_cli_prints_table_for_one_variant(tmp_path, capsys):
    data, _ = _data_with_masks(tmp_path / "data")
    sets = [w for o in OVERRIDES for w in ("--set", o)]
    code = main(["ablation", "--data", str(data), "--out", str(tmp_path / "abl"), "--only", "cyclegan",
                 "--device", "cpu", *sets])
    out = capsys.readouterr().out
    assert code == 0 and "| metric | better | cyclegan |" in out and "--only cyclegan" in out
    assert not (tmp_path / "abl" / "spagan_paper").exists()


def test_dagster_ablation_job(tmp_path):
    root = tmp_path / "root"
    _data_with_masks(root / "prepared")
    params = tmp_path / "params.yaml"
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.write_text(yaml.safe_dump(raw))
    resources = {"data_paths": DataPaths(root=str(root), params=str(params)), "dvc": DvcCli(repo=str(tmp_path))}
    run_config = {"ops": {"ablate_variants": {"config": {"overrides": OVERRIDES, "variants": ["spagan_paper_no_fm"]}}}}
    result = ablation.execute_in_process(run_config=run_config, resources=resources)
    assert result.success
    assert result.output_for_node("ablate_variants") == str(root / "ablation" / TABLE_NAME)
    assert "| metric | better | spagan_paper_no_fm |" in (root / "ablation" / TABLE_NAME).read_text()
    refused = ablation.execute_in_process(resources=resources, raise_on_error=False, run_config={
        "ops": {"ablate_variants": {"config": {"variants": ["nope"]}}}})
    failure = next(e for e in refused.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert not refused.success
    assert "unknown variants ['nope']" in failure.step_failure_data.user_failure_data.description
