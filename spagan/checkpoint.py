"""Atomic checkpoint files: state_dicts, training state and the resolved config.

Loading always uses weights_only=True: a checkpoint is data, never code.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from spagan.errors import SpaganError

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace: a crash at any
    point leaves either the previous checkpoint or the new one, never a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (weights_only=True); SpaganError naming the file if missing or corrupt."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise SpaganError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors vary by torch version
        raise SpaganError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "networks" not in state or "config" not in state:
        raise SpaganError(f"{path}: not a SPA-GAN checkpoint (no networks/config)")
    return state


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file (model identity in lineage and evaluation records)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
