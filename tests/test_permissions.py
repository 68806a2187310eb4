"""Outputs follow the user's umask: 0644 files and 0755 folders under 022 (0640 / 0750 under 027),
as open() and mkdir would make them, although they are written through private temp files."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from spagan.config import load_config, save_config
from spagan.core.fileio import atomic_write_text, current_umask, make_temp_dir
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains

TINY_DEMO = ["data.demo_size=32", "data.demo_train_per_domain=8", "data.demo_test_per_domain=5",
             "data.demo_planted_duplicates=1", "data.demo_planted_broken=1"]


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def wrong_modes(root: Path, umask: int) -> list[str]:
    """Every file or folder under `root` (itself included) whose mode is not what the umask gives."""
    want_file, want_dir = 0o666 & ~umask, 0o777 & ~umask
    bad = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = want_dir if path.is_dir() else want_file
        if mode != want:
            bad.append(f"{path.relative_to(root.parent)}: {mode:o} (want {want:o})")
    return bad


def test_atomic_writes_and_temp_folders_follow_the_umask(umask, tmp_path):
    from spagan.evaluation.metrics.features import FeatureCache

    assert current_umask() == umask
    out = tmp_path / "out"
    out.mkdir()
    atomic_write_text(out / "summary.json", "{}\n")
    save_config(load_config(None), out / "config.yaml")
    (make_temp_dir(out, ".staging-") / "x.csv").write_text("a\n")
    FeatureCache(out, "cache").put("k", np.zeros(3))
    assert wrong_modes(out, umask) == []


def test_prepared_data_follows_the_umask(umask, tmp_path):
    from spagan.data.prepare import prepare

    cfg = load_config(ROOT / "params.yaml", TINY_DEMO).data
    prepare(None, tmp_path / "data", cfg, workers=1)
    assert (tmp_path / "data" / "prepared" / "trainA").is_dir() and (tmp_path / "data" / "summary.json").is_file()
    assert wrong_modes(tmp_path / "data", umask) == []


def test_run_model_and_translations_follow_the_umask(umask, tmp_path):
    from spagan.evaluation.gallery import write_gallery
    from spagan.inference.translate import translate_folder
    from spagan.lineage.record import publish_run
    from spagan.training.loop import train

    data = write_tiny_domains(tmp_path / "in" / "prepared", n=2, size=32)
    (tmp_path / "in" / "manifest.csv").write_text("path,sha256\ntrainA/000.png,x\n")
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=1"])
    train(cfg, data, tmp_path / "run", device="cpu")
    publish_run(cfg, tmp_path / "run", tmp_path / "models" / "spagan", data_dir=data,
                manifest=tmp_path / "in" / "manifest.csv", repo=ROOT)
    translate_folder(tmp_path / "run", "a2b", data / "testA", tmp_path / "translated", save_attention=True,
                     device="cpu")
    import torch

    x = torch.zeros(1, 3, 8, 8)
    write_gallery(tmp_path / "eval" / "gallery" / "a2b.png", x, torch.zeros(1, 1, 2, 2), x, x)
    for folder in ("run", "models", "translated", "eval"):
        assert wrong_modes(tmp_path / folder, umask) == [], folder
