"""spagan.lineage.record: DVC-compatible hashes, the work-folder stamp, publishing with lineage.json."""

import hashlib
import json
import subprocess

import pytest
import yaml

from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.core.md5 import dir_md5, file_md5
from spagan.lineage.dvcfiles import read_stage_lock
from spagan.lineage.record import compare_with_lock, loss_curves_csv, publish_run, read_lineage
from spagan.lineage.stamp import start_run
from tests.conftest import ROOT, TINY_OVERRIDES, tiny_finished_run
from tests.dvc_project import DVC_BIN


def test_dir_md5_matches_dvc(tmp_path):
    folder = tmp_path / "repo" / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(b"\x89PNG fake")
    (folder / "sub" / "b.txt").write_bytes(b"line\r\n")  # DVC 3 hashes bytes as they are
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    (tmp_path / "repo" / ".dvcignore").write_text("__pycache__/\n")
    for args in (["init", "--no-scm", "-q"], ["add", "-q", "images"]):
        subprocess.run([str(DVC_BIN), *args], cwd=tmp_path / "repo", check=True, capture_output=True)
    recorded = yaml.safe_load((tmp_path / "repo" / "images.dvc").read_text())["outs"][0]["md5"]
    assert dir_md5(folder) == recorded
    assert file_md5(folder / "a.png") == hashlib.md5(b"\x89PNG fake").hexdigest()


def test_start_run_keeps_only_an_unfinished_run_under_the_same_stamp(tmp_path):
    work = tmp_path / "work"
    stamp = {"stage": "train", "deps": {"data/manifest.csv": "1" * 32, "spagan/training/losses.py": "2" * 32},
             "params": {"train": "abc"}}
    assert start_run(work, stamp) is None
    (work / "checkpoint.pt").write_bytes(b"unfinished run")
    (work / "metrics.json").write_text(json.dumps({"finished": False}))
    assert start_run(work, stamp) is None and (work / "checkpoint.pt").exists()  # resumes
    changed = {**stamp, "deps": {**stamp["deps"], "spagan/training/losses.py": "3" * 32}, "params": {"train": "def"}}
    expected = "its run started under other dependencies: dep spagan/training/losses.py, params train"
    assert start_run(work, changed) == expected
    assert not (work / "checkpoint.pt").exists()
    (work / "checkpoint.pt").write_bytes(b"finished run")
    (work / "metrics.json").write_text(json.dumps({"finished": True}))
    assert start_run(work, changed) == "its run had finished (a re-run of the stage trains anew)"
    assert sorted(p.name for p in work.iterdir()) == ["stage_stamp.json"]


def test_loss_curves_csv_skips_a_torn_line(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text(json.dumps({"step": 1, "G": 2.0, "D_A": 0.5, "images_per_s": 9}) + "\n{\"step\": 2, \"G")
    rows = loss_curves_csv(log).decode().splitlines()
    assert rows[0].startswith("step,epoch,lr,G,") and rows[1].startswith("1,,,2.0,") and len(rows) == 2


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real (tiny) finished training run plus the prepared-data files publish reads."""
    return tiny_finished_run(tmp_path_factory.mktemp("run"))


def test_publish_writes_lineage_and_replaces_model_whole(finished_run, tmp_path):
    root, cfg = finished_run
    model = tmp_path / "models" / "spagan"
    model.mkdir(parents=True)
    (model / "stale.txt").write_text("from an older model")
    lineage = publish_run(cfg, root / "work", model, data_dir=root / "data" / "prepared",
                          manifest=root / "data" / "manifest.csv", repo=ROOT)
    assert sorted(p.name for p in model.iterdir()) == [
        "config.yaml", "lineage.json", "loss_curves.csv", "metrics.json", "model.safetensors", "preview.png",
        "train_log.jsonl"]  # no eval_curve.csv: trained without an evaluator
    assert read_lineage(model) == lineage
    assert lineage["data"]["data_version"] == "abc123"
    assert lineage["data"]["prepared_md5"] == dir_md5(root / "data" / "prepared")
    assert lineage["format"] == 3 and lineage["model"]["file"] == "model.safetensors"
    assert lineage["model"]["sha256"] == hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    assert lineage["params"]["train"]["max_steps"] == 2 and lineage["runtime"]["device"] == "cpu"
    assert lineage["runtime"]["versions"]["torch"] and len(lineage["code"]["commit"] or "x" * 40) == 40
    assert [p.name for p in model.parent.iterdir()] == ["spagan"]  # no staging folders left


def test_publish_refuses_unfinished_or_mismatched_run_and_keeps_previous_model(finished_run, tmp_path):
    root, cfg = finished_run
    model = tmp_path / "spagan"
    kw = {"data_dir": root / "data" / "prepared", "manifest": root / "data" / "manifest.csv", "repo": ROOT}
    before = publish_run(cfg, root / "work", model, **kw)
    other = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=2", "train.lambda_fm=0"])
    with pytest.raises(SpaganError, match="train config differs"):
        publish_run(other, root / "work", model, **kw)
    with pytest.raises(SpaganError, match="no finished training run"):
        publish_run(cfg, tmp_path / "empty", model, **kw)
    assert read_lineage(model) == before


def test_compare_with_lock_names_each_disagreement(tmp_path, finished_run):
    root, cfg = finished_run
    kw = {"data_dir": root / "data" / "prepared", "manifest": root / "data" / "manifest.csv", "repo": ROOT}
    unstamped = publish_run(cfg, root / "work", tmp_path / "m0", **kw)
    assert unstamped["code"]["deps"] is None and unstamped["code"]["digest"] is None
    d = unstamped["data"]
    code = {"spagan/training/losses.py": "1" * 32, "spagan/models": "2" * 32 + ".dir"}
    stamp = {"stage": "train", "deps": {d["manifest"]: d["manifest_md5"], d["prepared"]: d["prepared_md5"], **code},
             "params": {}}
    (root / "work" / "stage_stamp.json").write_text(json.dumps(stamp))
    lineage = publish_run(cfg, root / "work", tmp_path / "m", **kw)
    assert lineage["code"]["deps"] == code and len(lineage["code"]["digest"]) == 16
    lock = {"schema": "2.0", "stages": {"train": {
        "cmd": "x",
        "params": {"params.yaml": {"model": lineage["params"]["model"], "train": lineage["params"]["train"]}},
        "deps": [{"path": d["manifest"], "md5": d["manifest_md5"]}, {"path": d["prepared"], "md5": d["prepared_md5"]},
                 *({"path": p, "md5": m} for p, m in code.items())],
        "outs": [{"path": "models/spagan", "md5": "f00.dir"}]}}}

    def problems():
        (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
        return compare_with_lock(lineage, read_stage_lock(tmp_path / "dvc.lock", "train"))

    assert problems() == []
    assert "no code digest" in compare_with_lock(unstamped, read_stage_lock(tmp_path / "dvc.lock", "train"))[0]
    # DVC stores params.yaml's raw YAML: bare on/off are booleans there, "on"/"off" in the lineage.
    raw_train = {k: v == "on" if v in ("on", "off") else v for k, v in lineage["params"]["train"].items()}
    assert raw_train["compile"] is False
    lock["stages"]["train"]["params"]["params.yaml"]["train"] = raw_train
    assert problems() == []
    # params.yaml's `model.n_layers_d: auto` resolves at the locked train.image_size (32 px: 1 layer),
    # the int the lineage records; not at the dataclass default 256 px (3 layers).
    locked_model = lock["stages"]["train"]["params"]["params.yaml"]["model"]
    model = {**lineage["params"]["model"], "n_layers_d": 1}
    auto_lineage = {**lineage, "params": {**lineage["params"], "model": model}}
    lock["stages"]["train"]["params"]["params.yaml"]["model"] = {**locked_model, "n_layers_d": "auto"}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert compare_with_lock(auto_lineage, read_stage_lock(tmp_path / "dvc.lock", "train")) == []
    assert problems() == ["params section 'model' differs from dvc.lock"]  # the lineage's 3 layers are not auto's 1
    lock["stages"]["train"]["params"]["params.yaml"]["model"] = locked_model
    lock["stages"]["train"]["deps"][1]["md5"] = "0" * 32 + ".dir"
    lock["stages"]["train"]["params"]["params.yaml"]["train"] = {**lineage["params"]["train"], "lr": 1.0}
    lock["stages"]["train"]["deps"][2]["md5"] = "9" * 32  # losses.py changed after training
    lock["stages"]["train"]["deps"].append({"path": "spagan/new.py", "md5": "8" * 32})  # a dep added since
    found = problems()
    assert len(found) == 4 and "prepared" in found[0] and "'train'" in found[1], found
    code_problems = sorted(found[2:])  # one per path, in path order
    assert code_problems[1] == f"spagan/training/losses.py: trained with md5 {'1' * 32}, dvc.lock records {'9' * 32}"
    assert code_problems[0].startswith("spagan/new.py: a dependency in dvc.lock, but not of the run")
    with pytest.raises(SpaganError, match="no stage 'evaluate'"):
        read_stage_lock(tmp_path / "dvc.lock", "evaluate")
