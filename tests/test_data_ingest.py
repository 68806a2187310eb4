"""Ingest: every kind of bad file is quarantined with its reason, the source stays byte-identical."""

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagan.data.ingest import ingest
from spagan.data.normalise import to_rgb
from spagan.data.sources import list_source, zip_member_escapes

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _img(seed: int, size: int = 48, mode: str = "RGB") -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(arr).convert(mode)


def _save(im: Image.Image, path: Path, fmt: str = "PNG", **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt, **kw)
    return path


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every regular file (links not followed), to prove the source is untouched."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def build_corpus(root: Path, outside: Path) -> dict[str, str]:
    """Good images in every folder plus one file per bad kind; returns {source_path: reason}."""
    for split in ("train", "test"):
        for d in "AB":
            for i in range(3):
                _save(_img(hash((split, d, i)) % 1000), root / f"{split}{d}" / f"img {i} é.png")
    bad: dict[str, str] = {}
    (root / "trainA" / "empty.png").write_bytes(b"")
    bad["trainA/empty.png"] = "empty_file"
    good = (root / "trainA" / "img 0 é.png").read_bytes()
    (root / "trainA" / "truncated.png").write_bytes(good[: len(good) // 2])
    bad["trainA/truncated.png"] = "corrupt"
    jpg = io.BytesIO()
    _img(5, 64).save(jpg, format="JPEG")
    (root / "trainB" / "truncated.jpg").write_bytes(jpg.getvalue()[: len(jpg.getvalue()) // 2])
    bad["trainB/truncated.jpg"] = "corrupt"
    (root / "trainB" / "notes.jpg").write_text("not an image at all\n")
    bad["trainB/notes.jpg"] = "not_an_image"
    _save(_img(6, 200), root / "testA" / "huge.png")  # 40,000 px > max_pixels used below
    bad["testA/huge.png"] = "decompression_bomb"
    _save(_img(7, 16), root / "testB" / "tiny.png")
    bad["testB/tiny.png"] = "too_small"
    _save(Image.fromarray(np.ones((48, 48), np.float32)), root / "testB" / "float.tif", "TIFF")
    bad["testB/float.tif"] = "unsupported_mode"
    _save(_img(8), outside / "elsewhere.png")
    (root / "trainA" / "link_out.png").symlink_to(outside / "elsewhere.png")
    bad["trainA/link_out.png"] = "symlink_outside_source"
    (root / "trainA" / "readme.txt").write_text("hello")
    bad["trainA/readme.txt"] = "unsupported_extension"
    _save(_img(9), root / "stray.png")
    bad["stray.png"] = "outside_layout"
    locked = _save(_img(10), root / "testA" / "locked.png")
    locked.chmod(0)
    if not IS_ROOT:  # root reads any file whatever its permissions
        bad["testA/locked.png"] = "unreadable"
    # A link inside the source is fine (dedupe later finds it as an exact copy).
    (root / "trainB" / "link_in.png").symlink_to(root / "trainB" / "img 1 é.png")
    return bad


def _check(result, bad: dict[str, str]) -> None:
    got = dict(zip(result.quarantine["source_path"], result.quarantine["reason"]))
    assert got == bad
    assert not set(result.manifest["source_path"]) & set(bad)
    assert (result.quarantine["detail"] != "").all()


def test_bad_files_are_quarantined_with_reason_and_source_untouched(tmp_path):
    src = tmp_path / "src"
    bad = build_corpus(src, tmp_path / "outside")
    before = _snapshot(src)
    result = ingest(src, tmp_path / "out", min_size=32, max_pixels=30_000, workers=1)
    _check(result, bad)
    assert _snapshot(src) == before
    assert len(result.manifest) == 12 + 1 + (1 if IS_ROOT else 0)  # good images + link_in (+ locked)
    row = result.manifest.set_index("source_path").loc["trainA/img 0 é.png"]
    assert row["path"] == "trainA/img 0 é.png" and row["domain"] == "A" and row["split"] == "train"
    assert len(row["sha256"]) == 64 and len(row["phash"]) == 16
    assert row["sha256"] == hashlib.sha256((src / "trainA" / "img 0 é.png").read_bytes()).hexdigest()
    with Image.open(tmp_path / "out" / row["path"]) as im:
        assert im.mode == "RGB" and im.size == (48, 48)


def test_zip_source_with_zip_slip_and_nested_root(tmp_path):
    zpath = tmp_path / "horse2zebra.zip"
    buf = io.BytesIO()
    _img(1).save(buf, format="PNG")
    with zipfile.ZipFile(zpath, "w") as zf:
        for split in ("train", "test"):
            for d in "AB":
                for i in range(2):
                    b = io.BytesIO()
                    _img(i + 10 * ord(d) + (0 if split == "train" else 5)).save(b, format="PNG")
                    zf.writestr(f"horse2zebra/{split}{d}/x{i}.png", b.getvalue())
        zf.writestr("horse2zebra/trainA/../../../evil.png", buf.getvalue())
        zf.writestr("horse2zebra/trainA/empty.png", b"")
        zf.writestr("__MACOSX/horse2zebra/trainA/._x0.png", b"junk")
    before = zpath.read_bytes()
    result = ingest(zpath, tmp_path / "out", min_size=32, max_pixels=10**8, workers=1)
    got = dict(zip(result.quarantine["source_path"], result.quarantine["reason"]))
    assert got == {"horse2zebra/trainA/../../../evil.png": "zip_slip", "horse2zebra/trainA/empty.png": "empty_file"}
    assert len(result.manifest) == 8
    assert not (tmp_path / "evil.png").exists() and zpath.read_bytes() == before
    assert zip_member_escapes("/etc/passwd") and zip_member_escapes("a/../../b") and not zip_member_escapes("a/../b")


def test_parallel_ingest_matches_serial(tmp_path):
    src = tmp_path / "src"
    for i in range(40):
        _save(_img(i), src / ("trainA" if i % 2 else "testB") / "sub" / f"{i}.jpg", "JPEG")
    serial = ingest(src, tmp_path / "o1", min_size=32, max_pixels=10**8, workers=1).manifest
    parallel = ingest(src, tmp_path / "o2", min_size=32, max_pixels=10**8, workers=2).manifest
    assert serial.equals(parallel)
    assert serial["path"].str.startswith(("trainA/sub__", "testB/sub__")).all()


@pytest.mark.parametrize(
    "mode, expect",
    [("L", (77, 77, 77)), ("LA", (255, 255, 255)), ("P", None), ("RGBA", (255, 255, 255)), ("CMYK", None),
     ("I;16", (128, 128, 128)), ("1", (255, 255, 255))],
)
def test_modes_normalise_to_rgb(mode, expect):
    if mode == "L":
        im = Image.new("L", (8, 8), 77)
    elif mode == "LA":
        im = Image.new("LA", (8, 8), (10, 0))  # fully transparent -> white background
    elif mode == "RGBA":
        im = Image.new("RGBA", (8, 8), (10, 20, 30, 0))
    elif mode == "I;16":
        im = Image.fromarray(np.full((8, 8), 128 * 256 + 200, np.uint16))
        assert im.mode.startswith("I")
    elif mode == "1":
        im = Image.new("1", (8, 8), 1)
    else:
        im = _img(0, 8).convert(mode)
    out = to_rgb(im)
    assert out.mode == "RGB" and out.size == (8, 8)
    if expect is not None:
        assert out.getpixel((3, 3)) == expect


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (64, 40), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    _save(im, tmp_path / "src" / "trainA" / "rot.jpg", "JPEG", exif=exif.tobytes())
    for sub in ("trainB", "testA", "testB"):
        _save(_img(1), tmp_path / "src" / sub / "x.png")
    result = ingest(tmp_path / "src", tmp_path / "out", min_size=32, max_pixels=10**8, workers=1)
    row = result.manifest.set_index("source_path").loc["trainA/rot.jpg"]
    assert (row["width"], row["height"]) == (40, 64)


def test_listing_rejects_two_dataset_roots(tmp_path):
    for root in ("a", "b"):
        _save(_img(1), tmp_path / root / "trainA" / "x.png")
    from spagan.core.errors import SpaganError
    with pytest.raises(SpaganError, match="more than one dataset root"):
        list_source(tmp_path)
