"""The real `spagan` CLI in subprocesses: train then translate; user errors are one line."""

import json
import subprocess
import sys

from PIL import Image

from tests.conftest import ROOT, TINY_OVERRIDES

SPAGAN = [sys.executable, "-m", "spagan"]


def run(*args, cwd=None):
    return subprocess.run([*SPAGAN, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def sets(*extra):
    out = []
    for item in [*TINY_OVERRIDES, *extra]:
        out += ["--set", item]
    return out


def test_train_then_translate_through_the_cli(tiny_data, tmp_path):
    res = run("train", "--params", ROOT / "params.yaml", "--data", tiny_data, "--out", tmp_path / "run",
              "--device", "cpu", *sets("train.max_steps=3"))
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["steps"] == 3 and summary["device"] == "cpu"
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 3
    assert "step" in res.stderr  # the progress bar

    res = run("translate", "--checkpoint", tmp_path / "run", "--direction", "a2b", "--input",
              tiny_data / "testA", "--output", tmp_path / "out", "--save-attention")
    assert res.returncode == 0, res.stderr
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outs == sorted([f"{i:03d}.png" for i in range(4)] + [f"{i:03d}_attention.png" for i in range(4)])
    with Image.open(tmp_path / "out" / "000.png") as im:
        assert im.size == (40, 40) and im.mode == "RGB"  # the input's own size, not the 32 px crop


def test_dry_run_prints_the_plan_and_resolved_config(tiny_data, tmp_path):
    res = run("train", "--params", ROOT / "params.yaml", "--data", tiny_data, "--out", tmp_path / "run",
              "--dry-run", *sets("train.lambda_fm=0", "model.n_layers_d=auto"))
    assert res.returncode == 0, res.stderr
    plan, config = res.stdout.split("resolved config:\n")
    assert json.loads(config)["train"]["lambda_fm"] == 0.0
    # auto resolved at the crop size (32 px: one layer), in the config and the plan alike
    assert json.loads(config)["model"]["n_layers_d"] == 1 and "patchgan   n_layers_d 1: each patch sees 16 px" in plan
    assert "trainA 4, trainB 4 images" in plan and "4 steps/epoch x (1 + 1 decay epochs) = 8 steps" in plan
    assert "smallest trainA/000.png 40x40 px" in plan and "device     cpu" in plan and "checkpoint " in plan
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_dry_run_refuses_what_a_run_would_refuse(tmp_path):
    (tmp_path / "data" / "trainA").mkdir(parents=True)
    (tmp_path / "data" / "trainB").mkdir()
    res = run("train", "--params", ROOT / "params.yaml", "--data", tmp_path / "data", "--out", tmp_path / "run",
              "--dry-run")
    assert res.returncode == 2
    assert res.stderr.strip().endswith("trainA: no images in domain A") and len(res.stderr.splitlines()) == 1
    assert res.stdout == "" and not (tmp_path / "run").exists()


def test_user_errors_are_one_line_without_traceback(tmp_path):
    cases = [
        (("train", "--params", ROOT / "params.yaml", "--data", tmp_path / "missing", "--out", tmp_path / "o"),
         "data folder not found"),
        (("train", "--params", ROOT / "params.yaml", "--data", tmp_path, "--out", tmp_path / "o",
          "--set", "train.lamda=1"), "unknown key train.lamda"),
        (("translate", "--checkpoint", tmp_path / "nope.pt", "--direction", "a2b", "--input", tmp_path,
          "--output", tmp_path / "o"), "checkpoint not found"),
    ]
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    cases.append((("translate", "--checkpoint", tmp_path / "bad.pt", "--direction", "a2b", "--input", tmp_path,
                   "--output", tmp_path / "o"), "not a readable checkpoint"))
    for args, message in cases:
        res = run(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert message in res.stderr
        assert "Traceback" not in res.stderr


def test_unreadable_image_is_named(tiny_data, tmp_path):
    bad = tiny_data / "trainA" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    res = run("train", "--params", ROOT / "params.yaml", "--data", tiny_data, "--out", tmp_path / "run",
              *sets("train.max_steps=8"))
    assert res.returncode == 2
    assert "broken.png: cannot read image" in res.stderr and "Traceback" not in res.stderr
