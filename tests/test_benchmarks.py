"""The training-step benchmark runs as a user would run it (tiny networks, one step each)."""

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


# slow since 2026-12-07 (17 s): a smoke test of a benchmark script, kept out of the 10-minute suite
@pytest.mark.slow
def test_train_step_benchmark_reports_every_cell(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_step.py"), "--sizes", "32", "--ngf", "8", "--n-blocks", "1",
           "--iters", "1", "--warmup", "0", "--rounds", "1", "--device", "cpu", "--variants", "spagan", "cyclegan",
           "--settings", "fp32", "cl", "--threads", "1", "--set", "model.n_layers_d=auto", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "32px batch 1 fp32: SPA-GAN / CycleGAN baseline" in res.stdout
    rows = json.loads(out.read_text())["rows"]
    expected = {(s, v) for s in ("fp32", "cl") for v in ("spagan", "cyclegan")}
    assert {(r["setting"], r["variant"]) for r in rows} == expected
    for r in rows:
        assert r["s_per_step"] > 0 and r["peak_mib"] > 0 and r["device"] == "cpu"
        assert r["speedup_vs_fp32"] is not None and r["vs_cyclegan"] is not None
        assert r["threads"] == 1 and r["n_layers_d"] == 1 and r["cpu_s_per_step"] > 0  # auto at 32 px: 1 layer


def test_train_step_benchmark_rejects_an_unknown_setting():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_step.py"), "--settings", "fp16"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "fp16" in res.stderr


@pytest.mark.slow  # exports an ONNX graph (about 20 s)
def test_onnx_benchmark_reports_both_and_the_ratio():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "onnx_inference.py"), "--size", "32", "--ngf", "8",
           "--n-blocks", "1", "--iters", "1", "--rounds", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "PyTorch eager" in res.stdout and "ONNX Runtime" in res.stdout and "speed-up" in res.stdout


@pytest.mark.slow  # two demo-size training runs (about a minute)
def test_tensorboard_overhead_benchmark_reports_the_overhead(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "tensorboard_overhead.py"), "--steps", "4", "--warmup", "1",
           "--rounds", "1", "--preview-every", "2", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "overhead at the demo cadence" in res.stdout
    result = json.loads(out.read_text())
    assert result["overhead_pct"] > 0 and result["watch_preview_step_ms"] > result["watch_plain_step_ms"]


def _bench_module():
    spec = importlib.util.spec_from_file_location("train_step_bench", ROOT / "benchmarks" / "train_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fp32_on_cuda_is_labelled_tf32_and_the_yardstick_autotunes_as_we_do():
    bench = _bench_module()
    cuda = {"cudnn_benchmark": True, "tf32_conv": True, "tf32_matmul": False}
    assert bench.setting_label("fp32", cuda) == "fp32 (TF32 conv)"
    assert bench.setting_label("cl", cuda) == "cl (TF32 conv)"
    assert bench.setting_label("bf16+cl", cuda) == "bf16+cl"
    assert bench.setting_label("fp32", {}) == "fp32"  # CPU: plain fp32
    assert bench.backend_flags("cpu") == {}
    assert "torch.backends.cudnn.benchmark = True" in bench.REFERENCE_RUNNER


@pytest.mark.slow  # a subprocess importing torch and TensorBoard (about 10 s)
def test_checkpoint_cost_benchmark_times_spagans_writers_and_derives_the_cadence(tmp_path):
    out = tmp_path / "cost.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "checkpoint_cost.py"), "--size", "32", "--ngf", "8",
           "--n-blocks", "1", "--ndf", "8", "--pool", "2", "--repeats", "1", "--log-repeats", "20", "--step-s", "0.5",
           "--dir", str(tmp_path), "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(out.read_text())
    from spagan.config import load_config
    from spagan.models import build_networks

    nets = build_networks(load_config(None, ["model.ngf=8", "model.n_blocks=1", "model.ndf=8"]).model)
    params = sum(p.numel() for m in nets.by_name().values() for p in m.parameters())
    pooled = 2 * 2 * 3 * 32 * 32  # two pools of two images
    assert result["checkpoint_bytes"] >= 4 * (3 * params + pooled)  # float32 weights, two Adam moments, pools
    (derived,) = result["derived"]
    # The cadence keeps the amortised cost under 2% of a 0.5 s step.
    assert result["checkpoint_s_mean"] / derived["checkpoint_every"] <= 0.02 * 0.5
    assert result["checkpoint_s_mean"] / max(1, derived["checkpoint_every"] - 1) > 0.02 * 0.5 or \
        derived["checkpoint_every"] == 1
    assert list(tmp_path.iterdir()) == [out]  # the temp folder is gone
