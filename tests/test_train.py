"""Trainer: exact resume, learning-rate schedule, logs, divergence handling."""

import functools
import json

import pytest
import torch

from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.models.checkpoint import load_checkpoint
from spagan.training.loop import lr_factor
from spagan.training.loop import train as _train
from spagan.training.step import NonFiniteLoss
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains

# On the CPU: these tests compare runs bit for bit (resume, loader workers), and on CUDA cuDNN's
# autotuner and non-deterministic backward kernels make two runs differ in the last bits. A GPU
# resume is exact in state (step, schedule, pools, RNG, data order), not in bits.
train = functools.partial(_train, device="cpu")


def cfg_with(*extra):
    return load_config(ROOT / "params.yaml", TINY_OVERRIDES + list(extra))


def test_four_steps_equal_two_plus_resume_plus_two(tiny_data, tmp_path):
    # 4 images per domain, 2 epochs: resume lands mid-epoch with a partly filled pool (size 2).
    straight = train(cfg_with("train.max_steps=4"), tiny_data, tmp_path / "straight")
    train(cfg_with("train.max_steps=2"), tiny_data, tmp_path / "split")
    resumed = train(cfg_with("train.max_steps=4"), tiny_data, tmp_path / "split", resume=True)
    assert straight.steps == resumed.steps == 4 and resumed.resumed_from == 2
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for net in ("G", "F", "D_A", "D_B"):
        for key, value in a["networks"][net].items():
            assert torch.equal(value, b["networks"][net][key]), f"{net}.{key} differs after resume"
    assert a["optim"]["G"]["param_groups"][0]["lr"] == b["optim"]["G"]["param_groups"][0]["lr"]
    log_a = [json.loads(line) for line in (tmp_path / "straight" / "train_log.jsonl").read_text().splitlines()]
    log_b = [json.loads(line) for line in (tmp_path / "split" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_b] == [1, 2, 3, 4]
    assert [r["lr"] for r in log_a] == [r["lr"] for r in log_b]
    assert log_a[-1]["G"] == pytest.approx(log_b[-1]["G"], rel=0, abs=0)


def test_lr_constant_then_linear_decay_per_epoch():
    # 2 constant epochs, 3 decay epochs, 10 steps per epoch (CycleGAN's linear policy).
    factors = [lr_factor(s, 10, 2, 3) for s in range(0, 50, 10)]
    assert factors == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.25])
    assert lr_factor(19, 10, 2, 3) == 1.0 and lr_factor(20, 10, 2, 3) == 0.75


def test_learning_rate_after_resume_matches_schedule(tiny_data, tmp_path):
    # epochs=1, epochs_decay=1, 4 steps per epoch: steps 5-8 run at half the rate.
    train(cfg_with("train.max_steps=5"), tiny_data, tmp_path / "run")
    train(cfg_with(), tiny_data, tmp_path / "run", resume=True)
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([2e-4] * 4 + [1e-4] * 4)


def test_resume_with_other_config_is_refused_or_restarted(tiny_data, tmp_path):
    train(cfg_with("train.max_steps=1"), tiny_data, tmp_path / "run")
    with pytest.raises(SpaganError, match=r"train.lambda_fm: 1.0 -> 0.0"):
        train(cfg_with("train.max_steps=2", "train.lambda_fm=0"), tiny_data, tmp_path / "run", resume=True)
    assert load_checkpoint(tmp_path / "run")["step"] == 1  # refused resume leaves the run as it was
    result = train(cfg_with("train.max_steps=2", "train.lambda_fm=0"), tiny_data, tmp_path / "run", resume="auto")
    assert result.resumed_from == 0 and result.steps == 2


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tiny_data, tmp_path):
    # An absurd learning rate makes step 1's update overflow the next forward pass: a real divergence.
    cfg = cfg_with("watch.checkpoint_every=1", "train.lr=1e30")
    with pytest.raises(NonFiniteLoss, match=r"step 2: generator loss is (nan|inf).*last good checkpoint"):
        train(cfg, tiny_data, tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == 1
    assert all(torch.isfinite(v).all() for v in state["networks"]["G"].values())


def test_should_stop_ends_early_with_a_checkpoint(tiny_data, tmp_path):
    result = train(cfg_with(), tiny_data, tmp_path / "run", should_stop=lambda: True)
    assert result.steps == 1 and not result.finished
    assert load_checkpoint(tmp_path / "run")["step"] == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 1


def test_missing_domain_is_a_clear_error(tmp_path):
    (tmp_path / "d" / "trainA").mkdir(parents=True)
    with pytest.raises(SpaganError, match="trainA: no images in domain A"):
        train(cfg_with(), tmp_path / "d", tmp_path / "run")
    write_tiny_domains(tmp_path / "e")
    for p in (tmp_path / "e" / "trainB").iterdir():
        p.unlink()
    (tmp_path / "e" / "trainB").rmdir()
    with pytest.raises(SpaganError, match="trainB: folder not found"):
        train(cfg_with(), tmp_path / "e", tmp_path / "run")


def test_fewer_images_than_a_batch_is_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(SpaganError, match="fewer images than train.batch_size"):
        train(cfg_with("train.batch_size=5", "train.max_steps=1"), tiny_data, tmp_path / "run")


def test_training_with_loader_workers_matches_the_main_process(tiny_data, tmp_path):
    # Items depend only on (seed, epoch, position): the worker count must not change the run.
    a = train(cfg_with("train.max_steps=5", "train.num_workers=0"), tiny_data, tmp_path / "w0")
    b = train(cfg_with("train.max_steps=5", "train.num_workers=2"), tiny_data, tmp_path / "w2")
    assert a.losses == b.losses


@pytest.mark.slow  # torch.compile on CPU: 158 s on a slow day, and compile is off by default (BENCHMARKS.md)
def test_compiled_training_matches_eager_and_keeps_checkpoint_keys(tiny_data, tmp_path):
    eager = train(cfg_with("train.max_steps=2"), tiny_data, tmp_path / "eager")
    compiled = train(cfg_with("train.max_steps=2", "train.compile=on"), tiny_data, tmp_path / "compiled")
    for key, value in eager.losses.items():
        assert compiled.losses[key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
    a = load_checkpoint(tmp_path / "eager" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "compiled" / "checkpoint.pt")
    for net in ("G", "F", "D_A", "D_B"):
        assert a["networks"][net].keys() == b["networks"][net].keys()  # no _orig_mod. prefixes


def test_bf16_and_channels_last_train_on_cpu(tiny_data, tmp_path):
    # train.amp=on / channels_last=on (auto leaves both off on every device until a GPU
    # measurement says otherwise); forcing them on here runs the GPU option's code (autocast
    # regions, channels_last weights and inputs) on the CPU.
    # One step: its losses come from the same initial weights, so only bf16 rounding separates them.
    fp32 = train(cfg_with("train.max_steps=1"), tiny_data, tmp_path / "fp32")
    fast = train(cfg_with("train.max_steps=1", "train.amp=on", "train.channels_last=on"), tiny_data, tmp_path / "bf16")
    assert all(torch.isfinite(torch.tensor(v)) for v in fast.losses.values())
    for key in ("G", "cycle", "D_A", "D_B"):  # bf16 keeps about 3 significant digits
        assert fast.losses[key] == pytest.approx(fp32.losses[key], rel=0.05), key
    state = load_checkpoint(tmp_path / "bf16" / "checkpoint.pt")
    weights = [v for v in state["networks"]["G"].values() if v.is_floating_point()]
    assert all(v.dtype == torch.float32 for v in weights)  # autocast: master weights stay fp32
