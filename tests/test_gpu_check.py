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
    verdicts = dict(re.findall(r"^item (\d) \[(\w+)\]", res.stdout, re.M))
    assert sorted(verdicts) == [str(i) for i in range(1, 10)]
    assert all(verdicts[i] == "PASS" for i in "12367"), verdicts
    summary = json.loads((tmp_path / "check" / "summary.json").read_text())
    assert summary["facts"]["dvc"]["resumed"] and summary["facts"]["dvc"]["log_complete"]
    assert summary["facts"]["bench_rows"]
