"""`spagan params check` and scripts/dvc's use of it: a bad setting stops `dvc repro` / `dvc exp run`
before DVC starts (DVC deletes a stage's outputs before the stage's command runs)."""

import shutil
import subprocess

import pytest

from spagan.cli import main
from spagan.cli.params_cmd import dvc_overrides
from tests.conftest import ROOT
from tests.dvc_project import DVC_BIN


def test_dvc_overrides_are_read_in_every_spelling():
    args = ["exp", "run", "-S", "train.lr=1", "-Strain.beta1=0.9", "--set-param", "params.yaml:model.ngf=8",
            "--set-param=eval.seed=3", "-S", "other.yaml:x=1", "-n", "name"]
    assert dvc_overrides(args) == ["train.lr=1", "train.beta1=0.9", "model.ngf=8", "eval.seed=3"]


def test_check_exits_2_on_a_bad_override_and_0_on_good_params(capsys):
    params = str(ROOT / "params.yaml")
    assert main(["params", "check", "--params", params]) == 0
    assert main(["params", "check", "--params", params, "--dvc-args", "exp", "run", "-S", "train.beta1=1.5"]) == 2
    assert capsys.readouterr().err == "spagan params: error: train.beta1=1.5: must be in [0, 1)\n"


@pytest.mark.skipif(not DVC_BIN.exists(), reason="no .venv-dvc (bash scripts/setup.sh)")
def test_scripts_dvc_refuses_before_dvc_starts(tmp_path):
    for name in (".venv", ".venv-dvc", "spagan"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "dvc", tmp_path / "scripts" / "dvc")
    cases = [("train:\n  beta1: 2\n", ["repro"], f"{tmp_path}/params.yaml: train.beta1=2: must be in [0, 1)"),
             ("train:\n  beta1: 0.5\n", ["exp", "run", "-S", "model.ngf=0"], "model.ngf=0: must be >= 1")]
    for params, args, message in cases:  # not a DVC repository: had DVC started, it would have said so
        (tmp_path / "params.yaml").write_text(params)
        res = subprocess.run([str(tmp_path / "scripts" / "dvc"), *args], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 2
        assert res.stderr.splitlines() == [f"spagan params: error: {message}"]
