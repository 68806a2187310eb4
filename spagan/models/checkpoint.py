"""Atomic checkpoint files: state_dicts, training state and the resolved config.

Loading always uses weights_only=True: a checkpoint is data, never code.
"""

from pathlib import Path
from typing import Any

import torch

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write
from spagan.core.layout import CHECKPOINT_NAME  # noqa: F401  (re-exported)


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """torch.save atomically: a crash at any point leaves either the previous checkpoint or the
    new one, never a truncated file."""
    atomic_write(path, lambda f: torch.save(state, f))


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
