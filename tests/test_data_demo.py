"""The demo generator: deterministic bytes, masks beside images, planted problems listed."""

import csv
import hashlib

import numpy as np
from PIL import Image

from spagan.data.demo import generate_demo


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kw = {"size": 32, "train_per_domain": 6, "test_per_domain": 3, "planted_duplicates": 2, "planted_broken": 3}
    a = generate_demo(tmp_path / "a", seed=5, **kw)
    generate_demo(tmp_path / "b", seed=5, **kw)
    generate_demo(tmp_path / "c", seed=6, **kw)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert _digests(tmp_path / "a")["trainA/a_0000.png"] != _digests(tmp_path / "c")["trainA/a_0000.png"]
    assert a.images == 18


def test_masks_match_objects_and_domains_differ(tmp_path):
    generate_demo(tmp_path, size=64, train_per_domain=8, test_per_domain=2, seed=0,
                  planted_duplicates=1, planted_broken=3)
    for split in ("train", "test"):
        for d in "AB":
            images = sorted(p for p in (tmp_path / f"{split}{d}").glob(f"{d.lower()}_*.png")
                            if p.stem[2:].isdigit())  # planted copies have no mask
            masks = sorted((tmp_path / f"{split}{d}_mask").glob("*.png"))
            assert [p.name for p in images] == [p.name for p in masks]
    mask = np.asarray(Image.open(tmp_path / "trainB_mask" / "b_0000.png"))
    assert set(np.unique(mask)) <= {0, 255} and 0.02 < (mask > 0).mean() < 0.5
    # Striped objects: inside the mask, domain B is nearly black-and-white and A is not.
    def object_spread(path, mpath):
        img = np.asarray(Image.open(path).convert("L"), np.float32)
        return img[np.asarray(Image.open(mpath)) > 0].std()
    spread_a = np.mean([object_spread(tmp_path / "trainA" / f"a_{i:04d}.png",
                                      tmp_path / "trainA_mask" / f"a_{i:04d}.png") for i in range(8)])
    spread_b = np.mean([object_spread(tmp_path / "trainB" / f"b_{i:04d}.png",
                                      tmp_path / "trainB_mask" / f"b_{i:04d}.png") for i in range(8)])
    assert spread_b > 3 * spread_a
    with open(tmp_path / "planted.csv", encoding="utf-8") as fh:
        kinds = [row["kind"] for row in csv.DictReader(fh)]
    assert sorted(set(kinds)) == ["corrupt", "empty_file", "exact", "leakage", "near", "not_an_image"]
