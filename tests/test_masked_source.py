"""Real masks at varying sizes through `prepare`: the Weizmann horses as a masked testA beside a
horse2zebra subset (spagan.data.masked_source, benchmarks/weizmann_source.py). Masks are kept and
aligned with their images; the Weizmann copies of itself and of horse2zebra's trainA are reported
like any other duplicate or leak; a mask of the wrong size is quarantined, never misaligned."""

import importlib.util
import zipfile

import numpy as np
import pytest
from PIL import Image

from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.data.masked_source import build_masked_source
from spagan.data.prepare import prepare
from spagan.data.schema import DUPLICATE_COLUMNS, QUARANTINE_COLUMNS, read_table
from tests.conftest import ROOT
from tests.real_data import HORSE2ZEBRA, WEIZMANN, require

PER_SPLIT = {"trainA": 4, "trainB": 4, "testA": 4, "testB": 4}
NAMES = {  # what the Weizmann README says the pipeline should report (../shared/data/README.md)
    "trainA": ["n02381460_3229.jpg", "n02381460_3638.jpg", "n02381460_1003.jpg"],
    "testA": ["horse006.jpg", "horse018.jpg", "horse146.jpg", "horse127.jpg", "horse008.jpg", "horse061.jpg"],
}
EXPECTED = {  # (listed, the copy it duplicates, kind)
    ("testA/horse018.jpg", "testA/horse006.jpg", "near"),
    ("testA/horse146.jpg", "testA/horse004.jpg", "near"),
    ("trainA/n02381460_3229.jpg", "testA/horse127.jpg", "leakage"),
    ("trainA/n02381460_3638.jpg", "testA/horse008.jpg", "leakage"),
    ("trainA/n02381460_1003.jpg", "testA/horse061.jpg", "leakage"),
}


def _source(dest):
    require(HORSE2ZEBRA), require(WEIZMANN)
    return build_masked_source(dest, benchmark=HORSE2ZEBRA, masked_images=WEIZMANN / "images",
                               masks=WEIZMANN / "masks", per_split=PER_SPLIT, names=NAMES)


def test_weizmann_as_masked_testA_keeps_aligned_masks_and_reports_copies_and_leaks(tmp_path):
    src = _source(tmp_path / "weizmann")
    assert sorted(p.name for p in (src / "testA_mask").iterdir()) == sorted(
        p.stem + ".png" for p in (src / "testA").iterdir())
    cfg = load_config(ROOT / "params.yaml", ["data.dedupe=report"]).data
    outcome = prepare(src, tmp_path / "out", cfg, workers=1)
    manifest = outcome.manifest
    test_a = manifest[(manifest["split"] == "test") & (manifest["domain"] == "A")]
    assert len(test_a) == 10 and (test_a["mask_path"] != "").all()  # every horse kept with its mask
    assert len(set(zip(test_a["width"], test_a["height"]))) > 3  # real photos of varying sizes
    for path, mask_path, w, h in zip(test_a["path"], test_a["mask_path"], test_a["width"], test_a["height"]):
        assert mask_path == path.replace("testA/", "testA_mask/").rsplit(".", 1)[0] + ".png"
        with Image.open(tmp_path / "out/prepared" / mask_path) as mask, \
                Image.open(tmp_path / "out/prepared" / path) as image:
            assert mask.size == image.size == (w, h)
            values = np.asarray(mask)
            assert set(np.unique(values)) <= {0, 255} and 0 < (values > 0).sum() < w * h
    assert (manifest[manifest["split"] == "train"]["mask_path"] == "").all()
    listed = read_table(tmp_path / "out/duplicates.csv", DUPLICATE_COLUMNS)
    assert set(zip(listed["path"], listed["duplicate_of"], listed["kind"])) == EXPECTED
    assert outcome.summary["splits"]["testA"]["kept"] == outcome.summary["splits"]["testA"]["source"] == 10


def test_a_mask_of_the_wrong_size_is_quarantined_and_its_image_kept(tmp_path):
    src = _source(tmp_path / "weizmann")
    bad = src / "testA_mask" / "horse002.png"
    with Image.open(bad) as mask:
        mask.resize((mask.width // 2, mask.height)).save(bad)
    cfg = load_config(ROOT / "params.yaml", ["data.dedupe=report"]).data
    outcome = prepare(src, tmp_path / "out", cfg, workers=1)
    row = outcome.manifest.set_index("path").loc["testA/horse002.jpg"]
    assert row["mask_path"] == ""  # kept, without a mask that would not be aligned
    quarantine = read_table(tmp_path / "out/quarantine.csv", QUARANTINE_COLUMNS)
    assert list(quarantine["reason"]) == ["mask_size_mismatch"]
    assert quarantine["source_path"][0] == "testA_mask/horse002.png" and "testA/horse002.jpg" in quarantine["detail"][0]


def test_every_masked_image_needs_its_mask(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    for folder in (images, masks, *(tmp_path / "bench" / s for s in ("trainA", "trainB", "testB"))):
        folder.mkdir(parents=True)
    Image.new("RGB", (40, 40)).save(images / "h1.jpg")
    with pytest.raises(SpaganError, match=r"h1\.jpg: no mask .*h1\.png"):
        build_masked_source(tmp_path / "out", benchmark=tmp_path / "bench", masked_images=images, masks=masks)
    assert not (tmp_path / "out").exists()


def test_the_benchmark_script_builds_the_shared_weizmann_source(tmp_path):
    require(HORSE2ZEBRA), require(WEIZMANN)
    spec = importlib.util.spec_from_file_location("weizmann_source", ROOT / "benchmarks" / "weizmann_source.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dest = module.weizmann_source(tmp_path / "w", per_split={"trainA": 2, "trainB": 2, "testB": 2})
    assert len(list((dest / "testA").iterdir())) == len(list((dest / "testA_mask").iterdir())) == 278
    zipped = module.zip_source(dest, tmp_path / "w.zip")
    with zipfile.ZipFile(zipped) as zf:
        assert "w/testA_mask/horse001.png" in zf.namelist()
