"""scripts/gpu-check: the CUDA-path check runs its whole sequence on the CPU with --cpu-dry."""

import json
import re
import subprocess

import pytest
import torch

from tests.conftest import ROOT

GPU_CHECK = ROOT / "scripts" / "gpu-check"


@pytest.mark.skipif(torch.cuda.is_available(), reason="refuses only where there is no GPU")
def test_without_a_gpu_it_points_at_the_dry_run():
    res = subprocess.run([str(GPU_CHECK)], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "--cpu-dry" in res.stderr


@pytest.mark.slow
def test_cpu_dry_run_gives_a_verdict_per_item(tmp_path):
    # Everything the GPU run does, at 32 px on the CPU: train + resume, the CPU resume of the
    # run's checkpoint, 2 gloo processes + resume, kill -9 and resume under dvc repro, translate,
    # evaluate, export (when present) and the benchmark table. About 5 minutes on 2 busy cores.
    res = subprocess.run([str(GPU_CHECK), "--cpu-dry", "--out", str(tmp_path / "check")], capture_output=True,
                         text=True, timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    verdicts = dict(re.findall(r"^item (\d+) \[(\w+)\]", res.stdout, re.M))
    assert sorted(verdicts, key=int) == [str(i) for i in range(1, 11)]
    assert all(verdicts[i] == "PASS" for i in "12367"), verdicts
    summary = json.loads((tmp_path / "check" / "summary.json").read_text())
    assert summary["facts"]["dvc"]["resumed"] and summary["facts"]["dvc"]["log_complete"]
    assert summary["facts"]["bench_rows"]
    # Item 10 (issue 30): fp32 against bf16, 2 seeds each, losses and the yardstick side by side.
    assert verdicts["10"] == "INFO" and set(summary["facts"]["precision"]) == {
        "fp32_seed0", "fp32_seed1", "bf16_seed0", "bf16_seed1"}
    rows = {r["measure"]: r for r in summary["facts"]["precision_comparison"]}
    assert "loss.G" in rows and "a2b.object_translation" in rows and len(rows["loss.G"]["bf16"]) == 2


def test_precision_comparison_weighs_the_difference_against_the_seed_spread():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)

    def facts(g, obj):
        return {"losses_last_quarter": {"G": g}, "measures": {"a2b.object_translation": obj}}

    runs = {("fp32", 0): facts(2.0, 0.50), ("fp32", 1): facts(2.2, 0.60),
            ("bf16", 0): facts(2.1, 0.52), ("bf16", 1): facts(2.05, 0.58)}
    result = gpu_check.compare_precisions(runs)
    assert result["within_noise"] is True
    row = next(r for r in result["rows"] if r["measure"] == "loss.G")
    assert row["seed_spread"] == pytest.approx(0.2) and row["difference"] == pytest.approx(-0.025)
    runs[("bf16", 0)], runs[("bf16", 1)] = facts(2.1, 0.80), facts(2.1, 0.82)  # +0.26: past a 0.1 spread
    assert gpu_check.compare_precisions(runs)["within_noise"] is False
