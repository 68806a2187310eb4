"""horse2zebra as users download it (a zip with a top folder horse2zebra/), on a subset of the real
photographs, through `prepare`: report mode keeps the official splits exactly, drop mode lists the
same duplicates and warns that it changed a test split; greyscale JPEGs are converted, never
quarantined; an evaluation of the folder says whether its test split is the source's.

The subset holds the first images of each split plus the real set's known problems (found on
the full set, BENCHMARKS.md "horse2zebra through prepare"): an exact copy in trainA, a near
pair inside testA (which drop mode would remove from the benchmark), and train copies of test
images in both domains."""

import json
import shutil

import pandas as pd
from PIL import Image

from spagan.config import load_config
from spagan.data.prepare import dedupe_step, prepare, summarise
from spagan.data.schema import DUPLICATE_COLUMNS, MANIFEST_COLUMNS, read_table
from spagan.evaluation.split_check import check_test_split
from tests.conftest import ROOT
from tests.real_data import HORSE2ZEBRA, SPLITS, require, zip_folder

FIRST = 6  # images per split, before the named ones
NAMED = {
    "trainA": ["n02381460_3854.jpg", "n02381460_2921.jpg",  # byte-identical copies
               "n02381460_3811.jpg"],  # = testA/n02381460_1160 (phash distance 0)
    "trainB": ["n02391049_2757.jpg", "n02391049_226.jpg",  # greyscale JPEGs (mode L)
               "n02391049_2136.jpg"],  # = testB/n02391049_5240
    "testA": ["n02381460_2710.jpg", "n02381460_1660.jpg",  # near pair inside the test split (4 bits)
              "n02381460_1160.jpg"],
    "testB": ["n02391049_5240.jpg"],
}
# (listed image, the copy it duplicates, kind): what the subset must report, in both modes.
EXPECTED = {
    ("testA/n02381460_2710.jpg", "testA/n02381460_1660.jpg", "near"),
    ("trainA/n02381460_3854.jpg", "trainA/n02381460_2921.jpg", "exact"),
    ("trainA/n02381460_3811.jpg", "testA/n02381460_1160.jpg", "leakage"),
    ("trainB/n02391049_2136.jpg", "testB/n02391049_5240.jpg", "leakage"),
}


def h2z_subset(dest):
    """The first FIRST images of every split plus the NAMED ones, copied into dest/<split>/."""
    src = require(HORSE2ZEBRA)
    for split in SPLITS:
        (dest / split).mkdir(parents=True, exist_ok=True)
        chosen = sorted(p.name for p in (src / split).iterdir())[:FIRST]
        for name in dict.fromkeys(chosen + NAMED[split]):
            shutil.copy2(src / split / name, dest / split / name)
    return dest


def _data_cfg(mode):
    return load_config(ROOT / "params.yaml", [f"data.dedupe={mode}"]).data


def test_report_keeps_the_official_splits_and_drop_lists_the_same_and_warns(tmp_path):
    folder = h2z_subset(tmp_path / "h2z")
    zip_path = zip_folder(folder, tmp_path / "horse2zebra.zip")  # horse2zebra/trainA/... as distributed
    source = {split: len(list((folder / split).iterdir())) for split in SPLITS}

    report = prepare(zip_path, tmp_path / "report", _data_cfg("report"), workers=1)
    s = report.summary
    assert s["dedupe"] == "report" and s["warnings"] == [] and s["quarantined"] == 0
    assert s["counts"] == source  # every image of the source, exactly
    assert {k: (v["source"], v["kept"]) for k, v in s["splits"].items()} == {k: (n, n) for k, n in source.items()}
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["splits"] == s["splits"]
    listed = read_table(tmp_path / "report" / "duplicates.csv", DUPLICATE_COLUMNS)
    assert set(zip(listed["path"], listed["duplicate_of"], listed["kind"])) == EXPECTED
    assert set(listed["kept"]) == {"yes"}
    kept = report.manifest
    assert len(kept) == sum(source.values()) and set(listed["path"]) <= set(kept["path"])
    # Greyscale JPEGs are converted to RGB, not quarantined; the 256 px JPEGs stay as they are.
    grey = kept[kept["orig_mode"] == "L"]
    assert sorted(grey["source_path"]) == ["horse2zebra/trainB/n02391049_226.jpg",
                                           "horse2zebra/trainB/n02391049_2757.jpg"]
    for path in grey["path"]:
        with Image.open(tmp_path / "report" / "prepared" / path) as im:
            assert im.mode == "RGB" and im.size == (256, 256)
    assert (kept["width"] == 256).all() and (kept["height"] == 256).all()
    assert check_test_split(tmp_path / "report" / "prepared")["status"] == "same"

    # Drop mode on the same ingest (pandera's validation is the slow step, and drop's is the demo's).
    shutil.copytree(tmp_path / "report", tmp_path / "drop")
    dedupe_step(tmp_path / "drop", _data_cfg("drop"))
    drop_summary = summarise(tmp_path / "drop", "drop")
    dropped = read_table(tmp_path / "drop" / "duplicates.csv", DUPLICATE_COLUMNS)
    assert dropped.drop(columns="kept").equals(listed.drop(columns="kept"))  # the same list
    assert set(dropped["kept"]) == {"no"}
    assert drop_summary["splits"]["testA"] == {
        "source": source["testA"], "kept": source["testA"] - 1, "quarantined": 0, "duplicates": 1, "dropped": 1}
    [warning] = drop_summary["warnings"]  # loud: the benchmark's test split changed
    assert warning.startswith("testA:") and "n02381460_2710.jpg" in warning and "data.dedupe: report" in warning
    assert drop_summary["counts"]["testB"] == source["testB"]
    check = check_test_split(tmp_path / "drop" / "prepared")
    assert check["status"] == "differs" and check["testA"] == {"scored": source["testA"] - 1,
                                                               "source": source["testA"]}
    ingested = read_table(tmp_path / "drop" / "ingested" / "manifest.csv", MANIFEST_COLUMNS)
    assert len(ingested) == sum(source.values())  # the raw data was all read; only prepared/ differs


def test_evaluation_split_check_reads_the_ingested_manifest_without_a_summary(tmp_path):
    """An older preparation without summary.json's splits: the ingested manifest gives the counts."""
    prepared = tmp_path / "data" / "prepared"
    for split, n in (("testA", 3), ("testB", 2)):
        (prepared / split).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8)).save(prepared / split / f"{i}.png")
    rows = [{"path": f"{s}/{i}.png", "split": s[:4], "domain": s[-1]} for s, n in (("testA", 3), ("testB", 3))
            for i in range(n)]
    (tmp_path / "data" / "ingested").mkdir()
    pd.DataFrame(rows).reindex(columns=MANIFEST_COLUMNS).to_csv(tmp_path / "data/ingested/manifest.csv", index=False)
    check = check_test_split(prepared)
    assert check["status"] == "differs" and check["testB"] == {"scored": 2, "source": 3}
    assert check["testA"] == {"scored": 3, "source": 3} and "testB 2 of 3" in check["warning"]
    (tmp_path / "data/ingested/manifest.csv").unlink()
    assert check_test_split(prepared)["status"] == "unknown"
