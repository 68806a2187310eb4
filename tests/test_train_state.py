"""Run state: a checkpoint resumes onto any device (read on the CPU, then moved)."""

import torch

from spagan.config import load_config
from spagan.models.checkpoint import load_checkpoint, save_checkpoint
from spagan.training.loop import train
from spagan.training.state import new_run, restore, resume_run
from tests.conftest import ROOT, TINY_OVERRIDES


def cfg_with(*extra):
    return load_config(ROOT / "params.yaml", TINY_OVERRIDES + list(extra))


def test_resume_onto_another_device_keeps_rng_and_adam_steps_on_the_cpu(tiny_data, tmp_path):
    # 'meta' stands in for a GPU: a device that is not the CPU. Mapping the checkpoint onto the
    # training device (as map_location=dev did) turns the RNG states into non-CPU tensors, which
    # torch.set_rng_state refuses; that crashed every resume on CUDA.
    cfg = cfg_with("train.max_steps=2")
    train(cfg, tiny_data, tmp_path / "run", device="cpu")
    meta = torch.device("meta")
    run = new_run(cfg, meta, 4, 4)
    assert resume_run(run, tmp_path / "run" / "checkpoint.pt", resume=True) == 2
    assert all(p.device == meta for p in run.nets.G.parameters())
    for opt in (run.opt_G, run.opt_D):
        for s in opt.state.values():
            assert s["step"].device.type == "cpu"  # Adam's bias correction never waits for the device
            assert s["exp_avg"].device == meta
    assert run.pool_A.rng.get_state().device.type == "cpu"


def test_rng_state_stored_as_another_tensor_type_still_resumes(tiny_data, tmp_path):
    train(cfg_with("train.max_steps=2"), tiny_data, tmp_path / "run", device="cpu")
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["ranks"][0]["rng"]["torch"] = state["ranks"][0]["rng"]["torch"].to(torch.int64)  # not a ByteTensor
    save_checkpoint(state, path)
    run = new_run(cfg_with(), torch.device("cpu"), 4, 4)
    restore(run, load_checkpoint(path))
    assert run.step == 2


def test_bf16_checkpoint_resumed_in_fp32_trains(tiny_data, tmp_path):
    # A GPU run under train.amp=auto from before auto meant fp32 everywhere (it was bf16 on CUDA)
    # resumed where auto means off: the stored setting is the same `auto`, so the config check lets
    # it resume; the pools then hold bf16 fakes (as checkpoints saved them before the pool stored
    # float32) and D runs in fp32.
    train(cfg_with("train.max_steps=2", "train.amp=on"), tiny_data, tmp_path / "run", device="cpu")
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["config"]["train"]["amp"] = "auto"
    for pool in state["ranks"][0]["pools"].values():
        pool["images"] = [t.to(torch.bfloat16) for t in pool["images"]]
    save_checkpoint(state, path)
    result = train(cfg_with("train.max_steps=8"), tiny_data, tmp_path / "run", device="cpu", resume=True)
    assert result.resumed_from == 2 and result.steps == 8
    assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())


def test_format_1_checkpoint_still_resumes(tiny_data, tmp_path):
    # Format 1 kept one process's pools and RNG at the top level.
    train(cfg_with("train.max_steps=2"), tiny_data, tmp_path / "run", device="cpu")
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    assert state["format"] == 2 and len(state["ranks"]) == 1
    own = state.pop("ranks")[0]
    state.update(format=1, pools=own["pools"], rng=own["rng"])
    save_checkpoint(state, path)
    run = new_run(cfg_with(), torch.device("cpu"), 4, 4)
    restore(run, load_checkpoint(path))
    assert run.step == 2 and len(run.pool_A.images) == 2
    assert torch.equal(run.pool_A.rng.get_state(), own["pools"]["A"]["rng"])
