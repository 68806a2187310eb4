"""The published model is weights only: model.safetensors (G, F, D_A, D_B + config, no optimiser
state), read without pickle, translating exactly as the training checkpoint it came from; old
folders holding checkpoint.pt still load; every consumer and torch.hub take the folder."""

import json
import shutil

import pytest
import torch
from PIL import Image

from spagan.core.errors import SpaganError
from spagan.core.fileio import file_sha256
from spagan.evaluation.baselines import write_constant_checkpoint
from spagan.evaluation.preflight import plan_evaluation
from spagan.inference.translator import Translator
from spagan.lineage.record import publish_run, read_lineage
from spagan.models.checkpoint import load_checkpoint, load_model_state, model_file
from spagan.models.weights import load_weights, read_metadata, save_weights, weights_bytes
from tests.conftest import ROOT, run_cli, tiny_finished_run


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny finished run and the model folder published from it."""
    root, cfg = tiny_finished_run(tmp_path_factory.mktemp("published"))
    data = root / "data" / "prepared"
    model = root / "models" / "spagan"
    lineage = publish_run(cfg, root / "work", model, data_dir=data, manifest=root / "data" / "manifest.csv",
                          repo=ROOT)
    return {"run": root / "work", "model": model, "data": data, "lineage": lineage}


def test_published_folder_holds_the_networks_and_no_training_state(published):
    model, run = published["model"], published["run"]
    assert sorted(p.name for p in model.iterdir()) == [
        "config.yaml", "lineage.json", "loss_curves.csv", "metrics.json", "model.safetensors", "preview.png",
        "train_log.jsonl"]  # no eval_curve.csv: trained without an evaluator
    ckpt = load_checkpoint(run / "checkpoint.pt")
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert keys == {f"{net}.{k}" for net, state in ckpt["networks"].items() for k in state}  # no optim, pools, RNG
    meta = read_metadata(model / "model.safetensors")
    lineage = published["lineage"]
    assert json.loads(meta["config"]) == ckpt["config"] and int(meta["step"]) == ckpt["step"] == 2
    assert meta["lineage_digest"] == lineage["model"]["lineage_digest"] and len(meta["lineage_digest"]) == 16
    assert lineage["format"] == 3 and lineage["model"]["file"] == "model.safetensors"
    assert lineage["model"]["source_checkpoint"] == {"file": "checkpoint.pt", "step": 2}
    assert lineage["model"]["sha256"] == file_sha256(model / "model.safetensors")
    weights, full = (model / "model.safetensors").stat().st_size, (run / "checkpoint.pt").stat().st_size
    assert weights < full / 2, (weights, full)  # Adam's two moments alone are twice the weights


def test_load_weights_never_unpickles(published, monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(torch, "load", refuse)
    state = load_weights(published["model"] / "model.safetensors")
    assert state["step"] == 2 and set(state["networks"]) == {"G", "F", "D_A", "D_B"}
    assert load_model_state(published["model"])["config"] == state["config"]
    Translator.from_checkpoint(published["model"], "cpu")  # the whole consumer path, no pickle


def test_weights_equal_the_checkpoint_and_translate_identically(published):
    ckpt = load_checkpoint(published["run"] / "checkpoint.pt")
    state = load_weights(published["model"] / "model.safetensors")
    for net, params in ckpt["networks"].items():
        assert params.keys() == state["networks"][net].keys()
        assert all(torch.equal(t, state["networks"][net][k]) for k, t in params.items())
    from_weights = Translator.from_checkpoint(published["model"], "cpu")
    from_ckpt = Translator.from_checkpoint(published["run"] / "checkpoint.pt", "cpu")
    assert from_weights.checkpoint_sha256 == published["lineage"]["model"]["sha256"]
    x = torch.rand(2, 3, 36, 44, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for direction in ("a2b", "b2a"):
        a, b = from_weights.run(x, direction), from_ckpt.run(x, direction)
        assert torch.equal(a.fake, b.fake) and torch.equal(a.attention, b.attention) and torch.equal(a.rec, b.rec)


def test_same_weights_and_metadata_make_the_same_bytes(published):
    state = load_weights(published["model"] / "model.safetensors")
    blobs = {weights_bytes(state["networks"], state["config"], step=2, extra_metadata={"a": "1", "z": "2", "m": "3"})
             for _ in range(8)}  # safetensors alone orders the metadata at random
    assert len(blobs) == 1
    digest = {"lineage_digest": state["metadata"]["lineage_digest"]}
    assert (published["model"] / "model.safetensors").read_bytes() == weights_bytes(
        state["networks"], state["config"], step=2, extra_metadata=digest)


def test_a_folder_prefers_model_safetensors_and_old_folders_still_load(published, tmp_path):
    assert model_file(published["model"]) == published["model"] / "model.safetensors"
    old = tmp_path / "format2"  # a model folder published before the weights-only file
    old.mkdir()
    shutil.copy2(published["run"] / "checkpoint.pt", old / "checkpoint.pt")
    (old / "lineage.json").write_text(json.dumps({"format": 2, "model": {"checkpoint": "checkpoint.pt"}}))
    assert model_file(old) == old / "checkpoint.pt"
    assert Translator.from_checkpoint(old, "cpu").checkpoint_sha256 == file_sha256(old / "checkpoint.pt")
    assert read_lineage(old / "checkpoint.pt")["format"] == 2
    assert plan_evaluation(old, published["data"], tmp_path / "eval", device="cpu").checkpoint == old / "checkpoint.pt"
    shutil.copy2(published["model"] / "model.safetensors", old / "model.safetensors")
    assert model_file(old) == old / "model.safetensors"
    assert model_file(published["run"]) == published["run"] / "checkpoint.pt"  # a run folder


def test_bad_model_files_are_one_error_naming_the_file(published, tmp_path):
    good = (published["model"] / "model.safetensors").read_bytes()
    garbage, truncated, foreign = (tmp_path / f"{n}.safetensors" for n in ("garbage", "cut", "foreign"))
    garbage.write_bytes(b"not a model at all")
    truncated.write_bytes(good[: len(good) // 2])
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"note": "someone else's"})
    unreadable, missing = "not a readable safetensors file", "checkpoint not found"
    for path, message in ((garbage, unreadable), (truncated, unreadable), (foreign, "not a SPA-GAN model file"),
                          (tmp_path / "nope.safetensors", missing), (tmp_path, missing)):
        with pytest.raises(SpaganError, match=message) as err:
            Translator.from_checkpoint(path, "cpu")
        assert str(path) in str(err.value)
    save_weights({"G": {}, "F": {}, "D_A": {}, "D_B": {}}, {"model": {}}, tmp_path / "empty.safetensors", step=0)
    with pytest.raises(SpaganError, match="no tensors for G, F, D_A, D_B"):
        load_weights(tmp_path / "empty.safetensors")


def test_the_cli_takes_the_published_folder(published, tmp_path):
    model, data = published["model"], published["data"]
    code, _, err = run_cli("translate", "--checkpoint", model, "--direction", "a2b", "--input", data / "testA",
                           "--output", tmp_path / "out", "--device", "cpu")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in (data / "testA").iterdir())
    assert Image.open(tmp_path / "out" / "000.png").size == (40, 40)
    code, out, err = run_cli("evaluate", "--params", ROOT / "params.yaml", "--checkpoint", model, "--data", data,
                             "--out", tmp_path / "eval", "--dry-run", "--device", "cpu")
    assert code == 0, err
    assert f"{model / 'model.safetensors'} (step 2, 32 px)" in out
    code, out, err = run_cli("export", "--checkpoint", model, "--direction", "a2b", "--out", tmp_path / "a2b.onnx")
    assert code == 0, err
    assert (tmp_path / "a2b.onnx").stat().st_size > 0


def test_constant_baseline_from_a_weights_file(published, tmp_path):
    src = published["model"] / "model.safetensors"
    for dst in (tmp_path / "constant.safetensors", tmp_path / "constant.pt"):
        translator = Translator.from_checkpoint(write_constant_checkpoint(src, dst), "cpu")
        x = torch.rand(1, 3, 32, 32) * 2 - 1
        generated = translator.run(x, "a2b").fake
        assert torch.allclose(generated, torch.zeros_like(generated))  # tanh(0): no blend in the tiny paper model


def test_torch_hub_loads_a_ready_translator(published):
    translator = torch.hub.load(str(ROOT), "spagan", source="local", checkpoint=published["model"], device="cpu")
    assert isinstance(translator, Translator)
    assert all(not net.training for net in translator.nets.by_name().values())
    direct = Translator.from_checkpoint(published["model"], "cpu")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert torch.equal(translator.run(x, "b2a").fake, direct.run(x, "b2a").fake)
