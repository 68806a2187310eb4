"""Counterparts (the same scene in the other domain): the demo writes one per test image, and a
``<split>_pair/`` folder of any source is carried through prepare like the masks, never as images."""

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from spagan.config import DataConfig
from spagan.data.demo import generate_demo, render_scene
from spagan.data.ingest import ingest
from spagan.data.prepare import prepare
from spagan.data.schema import MANIFEST_COLUMNS, read_table
from spagan.data.sources import list_source

SMALL = {"size": 32, "train_per_domain": 6, "test_per_domain": 3, "seed": 5, "planted_duplicates": 2,
         "planted_broken": 3}
# sha256 over the sorted "path<TAB>sha256" lines of every file this demo wrote before counterparts
# existed: adding them must leave the images, masks and planted files byte-identical.
SMALL_DIGEST_WITHOUT_PAIRS = "16790ac4b202de3f29aa12e8c4df5afd484e11c0b9f3f75a717e126b9d0d90e2"
DEMO_CFG = DataConfig(demo_train_per_domain=10, demo_test_per_domain=5, demo_planted_duplicates=2)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scene_names(folder: Path) -> list[str]:
    """The rendered images of a demo folder (planted copies and broken files left out)."""
    return sorted(p.name for p in folder.glob("*.png") if p.stem[2:].isdigit())


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def test_demo_writes_a_counterpart_per_test_image_and_none_for_train(tmp_path):
    generate_demo(tmp_path, **SMALL)
    for d in "AB":
        names = _scene_names(tmp_path / f"test{d}")
        assert len(names) == 3 and sorted(p.name for p in (tmp_path / f"test{d}_pair").iterdir()) == names
        assert not (tmp_path / f"train{d}_pair").exists()
    lines = "\n".join(f"{p.relative_to(tmp_path).as_posix()}\t{_sha(p)}" for p in sorted(tmp_path.rglob("*"))
                      if p.is_file() and not p.parent.name.endswith("_pair"))
    assert hashlib.sha256(lines.encode()).hexdigest() == SMALL_DIGEST_WITHOUT_PAIRS


def test_counterpart_keeps_the_background_and_changes_the_object(tmp_path):
    generate_demo(tmp_path, **SMALL)
    for d_idx, d in enumerate("AB"):
        for i, name in enumerate(_scene_names(tmp_path / f"test{d}")):
            image, pair = _rgb(tmp_path / f"test{d}" / name), _rgb(tmp_path / f"test{d}_pair" / name)
            inside = np.asarray(Image.open(tmp_path / f"test{d}_mask" / name)) > 0
            assert np.array_equal(image[~inside], pair[~inside])  # exactly, pixel for pixel
            assert np.abs(image[inside] - pair[inside]).mean() > 20
            expected, _ = render_scene((SMALL["seed"], d_idx, 1, i), SMALL["size"], striped=d == "A")
            assert np.array_equal(pair, expected)


def _noise(seed: int, size: int = 48) -> Image.Image:
    """Full-range noise: far apart in perceptual hash, so deduplication keeps every image."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def _user_source(root: Path, *, with_pairs: bool) -> Path:
    """Four images per split folder (one testA image in a sub-folder, as a JPEG); with pairs, a
    ``testA_pair/`` for two of them plus one counterpart whose image does not exist."""
    for k, folder in enumerate(("trainA", "trainB", "testA", "testB")):
        (root / folder).mkdir(parents=True)
        for i in range(4):
            _noise(10 * k + i).save(root / folder / f"{i:03d}.png")
    (root / "testA" / "sub").mkdir()
    _noise(99).save(root / "testA" / "sub" / "x.jpg", quality=95)
    if with_pairs:
        (root / "testA_pair" / "sub").mkdir(parents=True)
        _noise(100).save(root / "testA_pair" / "001.png")
        _noise(101).save(root / "testA_pair" / "sub" / "x.png")
        _noise(102).save(root / "testA_pair" / "ghost.png")
    return root


def test_a_pair_folder_is_listed_as_counterparts_never_as_items(tmp_path):
    listing = list_source(_user_source(tmp_path / "src", with_pairs=True))
    assert all("_pair" not in it.source_path for it in listing.items) and len(listing.items) == 17
    assert listing.pairs == {("test", "A", "001"): "testA_pair/001.png",
                             ("test", "A", "sub/x"): "testA_pair/sub/x.png",
                             ("test", "A", "ghost"): "testA_pair/ghost.png"}  # no image: never copied
    assert listing.masks == {} and listing.ignored == []


def test_counterparts_are_copied_through_prepare_like_masks(tmp_path):
    src = _user_source(tmp_path / "src", with_pairs=True)
    outcome = prepare(src, tmp_path / "out", DataConfig())
    out = tmp_path / "out"
    assert outcome.summary["images"] == outcome.summary["ingested"] == 17 and outcome.summary["quarantined"] == 0
    manifest = outcome.manifest.set_index("path")
    assert "_pair" not in "".join(manifest["source_path"])
    assert list(outcome.manifest.columns[-2:]) == ["mask_path", "pair_path"]
    pairs = {p: rel for p, rel in manifest["pair_path"].items() if rel}
    # The JPEG is kept as it is (sub__x.jpg); its counterpart is matched without the extension.
    assert pairs == {"testA/001.png": "testA_pair/001.png", "testA/sub__x.jpg": "testA_pair/sub__x.png"}
    for rel, source_rel in (("testA_pair/001.png", "testA_pair/001.png"),
                            ("testA_pair/sub__x.png", "testA_pair/sub/x.png")):
        assert _sha(out / "ingested" / rel) == _sha(out / "prepared" / rel) == _sha(src / source_rel)
    assert sorted(p.name for p in (out / "prepared" / "testA_pair").iterdir()) == ["001.png", "sub__x.png"]

    # The same source as a zip: the same manifest.
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(src).as_posix())
    zipped = ingest(tmp_path / "src.zip", tmp_path / "zipped", min_size=32, max_pixels=10**7, workers=1)
    pd.testing.assert_frame_equal(zipped.manifest, read_table(out / "ingested" / "manifest.csv", MANIFEST_COLUMNS))


def test_a_source_without_pairs_has_no_counterparts(tmp_path):
    outcome = prepare(_user_source(tmp_path / "src", with_pairs=False), tmp_path / "out", DataConfig())
    assert len(outcome.manifest) == 17 and (outcome.manifest["pair_path"] == "").all()
    assert not list((tmp_path / "out").rglob("*_pair"))


def test_demo_counterparts_leave_the_training_images_and_versions_unchanged(tmp_path):
    with_pairs = prepare(None, tmp_path / "with", DEMO_CFG)
    bare = tmp_path / "bare"
    shutil.copytree(tmp_path / "with" / "source", bare)
    for folder in bare.glob("*_pair"):
        shutil.rmtree(folder)
    without = prepare(bare, tmp_path / "without", DEMO_CFG)
    a, b = with_pairs.manifest, without.manifest
    pd.testing.assert_frame_equal(a.drop(columns="pair_path"), b.drop(columns="pair_path"))
    assert with_pairs.summary["counts"] == without.summary["counts"] == {
        "trainA": 10, "testA": 5, "trainB": 10, "testB": 5}
    for key in ("data_version", "raw_version", "ingested", "quarantined", "duplicates"):
        assert with_pairs.summary[key] == without.summary[key]
    assert (b["pair_path"] == "").all() and (a.loc[a["split"] == "train", "pair_path"] == "").all()
    test = a[a["split"] == "test"]
    assert list(test["pair_path"]) == [p.replace("/", "_pair/", 1) for p in test["path"]]
    assert all((tmp_path / "with" / "prepared" / p).is_file() for p in test["pair_path"])
