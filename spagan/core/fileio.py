"""Atomic file and folder writes and digests, shared by every module that writes results.

A write goes to a temp file in the destination folder, is fsynced, then os.replace'd over the
target: a crash at any point leaves the old file or the new one, never a truncated one.
Temp files and folders are made private (mkstemp: 0600, mkdtemp: 0700); results are given the
mode `open()` and `mkdir` would have given them under the user's umask (0644 / 0755 under 022),
so a Dagster daemon running as another user, or a teammate on a shared disk, can read them.
(No torch import here: lineage and the CLI use it without loading PyTorch.)
"""

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it in /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it (and put it back)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode open() gives a new file under the current umask (0644 under 022)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode mkdir gives a new folder under the current umask (0755 under 022)."""
    return 0o777 & ~current_umask()


def make_temp_dir(parent: str | Path, prefix: str) -> Path:
    """A new folder in `parent` (mkdtemp: unique, race-free) with the mode mkdir would give it,
    for building a result folder that is then swapped into place."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, dir_mode())
    return tmp


def replace_dir(new: str | Path, dest: str | Path) -> None:
    """Swap folder `new` into place at `dest`: two renames, the first undone if the second fails;
    the old folder is removed only once the new one is in place."""
    new, dest = Path(new), Path(dest)
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))  # a free name
        os.rmdir(old)
        os.replace(dest, old)
    try:
        os.replace(new, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link `src` at `dst` (no space used), or copy it where the file system cannot link.
    Only for files that are replaced, never rewritten in place, since a link shares the bytes."""
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(f) on a temp file beside `path`, then move it into place atomically
    (readable as a file made by open() would be, under the current umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes to `path` atomically."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_digest(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes (sha256 for identities; md5 is what DVC records)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def json_digest(value: object) -> str:
    """16 hex digits of the sha256 of `value` as sorted-key JSON: a short, stable name for a
    record (a config section, a set of file md5s, a lineage identity)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")
