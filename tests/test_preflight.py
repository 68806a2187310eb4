"""The training preflight: each problem a real run would hit is refused before any work, in one line."""

import shutil
from collections import namedtuple

import pytest
import torch
from PIL import Image

from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.training.preflight import format_plan, plan_training
from tests.conftest import ROOT, TINY_OVERRIDES


def cfg(*extra):
    return load_config(ROOT / "params.yaml", [*TINY_OVERRIDES, *extra])


def test_plan_of_a_run_that_would_start(tiny_data, tmp_path):
    plan = plan_training(cfg("train.batch_size=2", "train.max_steps=3"), tiny_data, tmp_path / "run", device="cpu")
    assert plan.counts == {"trainA": 4, "trainB": 4, "testA": 4, "testB": 4}
    assert (plan.steps_per_epoch, plan.total_steps) == (2, 3)
    assert plan.smallest[1:] == (40, 40) and plan.device == "cpu" and plan.precision == "fp32"
    assert plan.parameters["D_A"] == plan.parameters["D_B"] > 0
    text = format_plan(plan)
    assert "2 steps/epoch x (1 + 1 decay epochs), stopped at train.max_steps=3 = 3 steps, batch 2" in text
    # The PatchGAN at the training size (32 px, 3 layers: more than the image), and what auto would pick.
    assert ("patchgan   n_layers_d 3: each patch sees 70 px (219% of 32 px), attention map 3 x 3; the paper's "
            "geometry (model.n_layers_d=auto) is n_layers_d 1: each patch sees 16 px (50% of 32 px), attention "
            "map 15 x 15") in text
    assert not (tmp_path / "run").exists()


def test_plan_shows_the_resolved_auto_depth(tiny_data, tmp_path):
    plan = plan_training(cfg("model.n_layers_d=auto"), tiny_data, tmp_path / "run", device="cpu")
    assert plan.discriminator == "n_layers_d 1: each patch sees 16 px (50% of 32 px), attention map 15 x 15"


@pytest.mark.parametrize("breakage, message", [
    ("no_data", "data folder not found"),
    ("no_trainB", "trainB: folder not found (expected CycleGAN layout trainA/ trainB/)"),
    ("empty_trainA", "trainA: no images in domain A"),
    ("broken_image", "broken.png: cannot read image"),
    ("big_batch", "4 images per domain at most, fewer than train.batch_size x processes = 5"),
    ("cuda", "device 'cuda' requested but CUDA is not available"),
    ("out_is_file", "cannot create the run folder"),
    ("disk_full", "free, a checkpoint needs about"),
])
def test_each_problem_is_refused_before_any_work(tiny_data, tmp_path, monkeypatch, breakage, message):
    c, data, out, device = cfg(), tiny_data, tmp_path / "run", "cpu"
    if breakage == "no_data":
        data = tmp_path / "missing"
    elif breakage == "no_trainB":
        shutil.rmtree(tiny_data / "trainB")
    elif breakage == "empty_trainA":
        for p in (tiny_data / "trainA").iterdir():
            p.unlink()
    elif breakage == "broken_image":
        (tiny_data / "trainA" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    elif breakage == "big_batch":
        c = cfg("train.batch_size=5")
    elif breakage == "cuda":
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        device = "cuda"
    elif breakage == "out_is_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    elif breakage == "disk_full":
        monkeypatch.setattr(shutil, "disk_usage", lambda _p: namedtuple("U", "total used free")(10**6, 10**6, 1000))
    with pytest.raises(SpaganError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        plan_training(c, data, out, device=device)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_an_image_smaller_than_the_crop_is_upscaled_with_a_warning_not_refused(tiny_data, tmp_path, caplog):
    # CycleGAN resizes every image to load_size before cropping, so the run works (blurry crops).
    Image.new("RGB", (20, 30)).save(tiny_data / "trainB" / "small.png")
    plan = plan_training(cfg(), tiny_data, tmp_path / "run", device="cpu")
    assert plan.smallest[1:] == (20, 30)
    assert "small.png 20x30 px" in format_plan(plan) and "UPSCALED" in format_plan(plan)
    assert "smaller than train.image_size=32: upscaled" in caplog.text


def test_checkpoint_estimate_matches_the_file_train_writes(tiny_data, tmp_path):
    from spagan.training.loop import train

    c = cfg("train.max_steps=2")
    plan = plan_training(c, tiny_data, tmp_path / "run", device="cpu")
    train(c, tiny_data, tmp_path / "run", device="cpu")
    actual = (tmp_path / "run" / "checkpoint.pt").stat().st_size
    assert abs(actual - plan.checkpoint_bytes) / actual < 0.02


def test_evaluation_plan_and_its_refusals(tiny_data, tmp_path, capsys):
    from spagan.cli import main
    from spagan.evaluation.preflight import plan_evaluation
    from spagan.training.loop import train

    train(cfg("train.max_steps=1"), tiny_data, tmp_path / "run", device="cpu")
    plan = plan_evaluation(tmp_path / "run", tiny_data, tmp_path / "eval", device="cpu")
    assert (plan.steps, plan.image_size, plan.counts["testA"], plan.counts["testB"]) == (1, 32, 4, 4)
    args = ["evaluate", "--params", str(ROOT / "params.yaml"), "--checkpoint", str(tmp_path / "run"),
            "--data", str(tiny_data), "--out", str(tmp_path / "eval"), "--dry-run", "--device", "cpu"]
    assert main(args) == 0
    assert "testA 4, testB 4 images" in capsys.readouterr().out
    with pytest.raises(SpaganError, match="checkpoint not found"):
        plan_evaluation(tmp_path / "nope.pt", tiny_data, tmp_path / "eval")
    for p in (tiny_data / "testB").iterdir():
        p.unlink()
    assert main(args[:-3]) == 2  # a real evaluation refuses before a2b is scored
    assert capsys.readouterr().err.strip().endswith("testB: no test images")
    assert not (tmp_path / "eval").exists()
