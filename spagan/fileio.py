"""Atomic file writes and file digests, shared by every module that writes results.

A write goes to a temp file in the destination folder, is fsynced, then os.replace'd over the
target: a crash at any point leaves the old file or the new one, never a truncated one.
(No torch import here: lineage and the CLI use it without loading PyTorch.)
"""

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(f) on a temp file beside `path`, then move it into place atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")
