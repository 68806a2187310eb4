"""A project copy whose params name the user's own zip, DVC-tracked in data/raw, after one
`dvc repro` from a shell (shared by the tests of the own-source lineage and of the stage deps)."""

import zipfile
from pathlib import Path

from tests.conftest import write_tiny_domains
from tests.dvc_project import dvc, git, make_project, set_params

ZIP = "data/raw/own.zip"
IMPORT_LOG = "first_repro_imports.log"  # next to the project: the first repro's output with import times


def write_zip(path: Path, tmp: Path, seed: int = 0) -> None:
    """horse2zebra-like zip: a top folder, 6 images per split/domain, a duplicate, and junk entries."""
    folder = write_tiny_domains(tmp / f"own{seed}", n=6, seed=seed)
    with zipfile.ZipFile(path, "w") as zf:
        for img in sorted(folder.rglob("*.png")):
            zf.write(img, f"own/{img.relative_to(folder).as_posix()}")
        zf.write(folder / "trainA" / "000.png", "own/trainA/copy_of_000.png")  # an exact duplicate
        zf.writestr("own/README.txt", "not an image")
        zf.writestr("__MACOSX/own/._000.png", b"\x00\x05\x16\x07")
        zf.writestr("own/trainB/notes.png", b"not a png at all")  # broken: quarantined


def make_own_project(tmp: Path) -> Path:
    """tmp/proj with the zip added and committed, after `dvc repro` (its output, with every stage
    command's import log, in tmp/IMPORT_LOG)."""
    repo = make_project(tmp)
    write_zip(repo / ZIP, tmp)
    dvc(repo, "add", ZIP)
    set_params(repo, {"data": {"source": ZIP}})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "own data")
    out = dvc(repo, "repro", env={"PYTHONPROFILEIMPORTTIME": "1"}).stdout
    (tmp / IMPORT_LOG).write_text(out)
    assert all(f"Running stage '{s}'" in out for s in ("prepare", "train", "evaluate")), out[-3000:]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "trained on own data")
    return repo
