"""DVC 3's content hashes, recomputed without DVC: the md5 of a file, and of a folder as the
``<md5>.dir`` that dvc.lock records. Data preparation records its raw source this way, and
lineage compares them with dvc.lock.
"""

import hashlib
import json
import os
from pathlib import Path

from spagan.core.errors import SpaganError
from spagan.core.fileio import file_digest

_IGNORED_NAMES = {"__pycache__", ".DS_Store"}


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes: what DVC 3 records for a file dependency or output."""
    return file_digest(path, "md5")


def dir_md5(path: str | Path) -> str:
    """DVC 3's hash of a folder (``<md5>.dir`` in dvc.lock): md5 of the JSON list of
    {md5, relpath} of every file, sorted by relpath. Files in __pycache__ are skipped, as the
    project's .dvcignore does; other .dvcignore patterns are not applied."""
    root = Path(path)
    if not root.is_dir():
        raise SpaganError(f"{root}: not a folder")
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_NAMES)
        for name in filenames:
            if name in _IGNORED_NAMES or name.endswith(".pyc"):
                continue
            full = Path(dirpath) / name
            entries.append({"md5": file_md5(full), "relpath": full.relative_to(root).as_posix()})
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def path_md5(path: str | Path) -> str:
    """DVC 3's hash of a dependency: file_md5 for a file, dir_md5 for a folder."""
    path = Path(path)
    if not path.exists():
        raise SpaganError(f"{path}: dependency not found")
    return dir_md5(path) if path.is_dir() else file_md5(path)
