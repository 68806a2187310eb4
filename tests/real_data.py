"""Real photographs beside the project (../shared/data, read its README): paths, a skip with the
reason where they are absent (a user's clone), and small subsets copied into a test's tmp_path.

The images are never copied into the repository; tests, studies and benchmarks read them here.
"""

import shutil
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HORSE2ZEBRA = SHARED_DATA / "horse2zebra"
WEIZMANN = SHARED_DATA / "weizmann_horses"
SPLITS = ("trainA", "trainB", "testA", "testB")


def require(path: Path) -> Path:
    """`path`, or skip the test naming what is missing (real photos live beside the project)."""
    if not path.is_dir():
        pytest.skip(f"real photographs not found at {path} (see ../shared/data/README.md; "
                    "present on development machines and in CI, absent from a user's clone)")
    return path


def horse2zebra_subset(dest: Path, per_split: int | dict[str, int] = 12) -> Path:
    """The first `per_split` images (sorted) of each horse2zebra split copied to dest/<split>/."""
    src = require(HORSE2ZEBRA)
    for split in SPLITS:
        n = per_split if isinstance(per_split, int) else per_split[split]
        (dest / split).mkdir(parents=True, exist_ok=True)
        for path in sorted((src / split).iterdir())[:n]:
            shutil.copy2(path, dest / split / path.name)
    return dest


def zip_folder(folder: Path, zip_path: Path, top: str = "horse2zebra") -> Path:
    """A zip of folder's split folders under a top folder, as horse2zebra.zip is distributed."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
    return zip_path
