"""`spagan prepare` end to end: the demo succeeds with its planted problems reported, a source
missing a domain fails with the readable report, and reruns give the same data version."""

import json

import pandas as pd

from spagan.cli import main
from spagan.data.schema import DUPLICATE_COLUMNS, QUARANTINE_COLUMNS, read_table
from tests.conftest import ROOT

DEMO = ["data.demo_train_per_domain=12", "data.demo_test_per_domain=5", "data.demo_planted_duplicates=2"]


def _prepare(out, *extra):
    args = ["prepare", "--out", str(out), "--params", str(ROOT / "params.yaml"), "--workers", "1"]
    for item in DEMO:
        args += ["--set", item]
    return main(args + list(extra))


def test_demo_prepare_reports_everything(tmp_path, capsys):
    assert _prepare(tmp_path / "out", "--demo") == 0
    out = tmp_path / "out"
    printed = capsys.readouterr().out
    assert "prepared 34 images" in printed and "data version" in printed
    quarantine = read_table(out / "quarantine.csv", QUARANTINE_COLUMNS)
    assert sorted(quarantine["reason"]) == ["corrupt", "empty_file", "not_an_image"]
    dups = read_table(out / "duplicates.csv", DUPLICATE_COLUMNS)
    assert sorted(dups["kind"]) == ["exact", "exact", "leakage", "leakage", "near", "near"]
    manifest = pd.read_csv(out / "manifest.csv", dtype=str)
    assert len(manifest) == 34 and (manifest["mask_path"].notna()).all()
    assert all((out / "prepared" / p).is_file() for p in manifest["path"])
    assert all((out / "prepared" / p).is_file() for p in manifest["mask_path"])
    pairs = manifest["pair_path"].fillna("")  # one counterpart per test image, none in train
    assert list(pairs != "") == list(manifest["split"] == "test") and sum(pairs != "") == 10
    assert all((out / "prepared" / p).is_file() for p in pairs if p)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"trainA": 12, "testA": 5, "trainB": 12, "testB": 5}

    # Same source again (copied elsewhere): same data versions.
    assert _prepare(tmp_path / "again", "--source", str(out / "source")) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert (again["data_version"], again["raw_version"]) == (summary["data_version"], summary["raw_version"])


def test_source_without_a_domain_fails_readably(tmp_path, capsys):
    assert _prepare(tmp_path / "demo", "--demo") == 0
    src = tmp_path / "demo" / "source"
    for p in (src / "testB").iterdir():
        p.unlink()
    code = _prepare(tmp_path / "out", "--source", str(src))
    err = capsys.readouterr().err
    assert code == 2
    assert "min_images_per_split" in err and "validation_report.txt" in err
    assert not (tmp_path / "out" / "manifest.csv").exists()
    assert "B          13     0" in (tmp_path / "out" / "validation_report.txt").read_text()


def test_missing_source_is_a_one_line_error(tmp_path, capsys):
    assert _prepare(tmp_path / "out", "--source", str(tmp_path / "nope")) == 2
    assert "source not found" in capsys.readouterr().err


def test_output_inside_source_is_refused(tmp_path, capsys):
    (tmp_path / "src" / "trainA").mkdir(parents=True)
    assert _prepare(tmp_path / "src" / "out", "--source", str(tmp_path / "src")) == 2
    assert "inside the source" in capsys.readouterr().err
    assert not (tmp_path / "src" / "out").exists()
