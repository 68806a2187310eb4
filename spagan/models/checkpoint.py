"""Atomic checkpoint files: state_dicts, training state and the resolved config; and the one
entry point every consumer loads a model through, whichever file holds it.

Loading always uses weights_only=True (checkpoint.pt) or safetensors (model.safetensors): a
model file is data, never code.
"""

from pathlib import Path
from typing import Any

import torch

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write
from spagan.core.layout import CHECKPOINT_NAME, WEIGHTS_NAME
from spagan.models.weights import load_weights

MODEL_FILES = (WEIGHTS_NAME, CHECKPOINT_NAME)  # in a folder, the first present is the model


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """torch.save atomically: a crash at any point leaves either the previous checkpoint or the
    new one, never a truncated file."""
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint (a checkpoint.pt, or the one in a run folder; weights_only=True);
    SpaganError naming the file if missing or corrupt. To load a model for use, load_model_state."""
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


def model_file(path: str | Path) -> Path:
    """The file a model path names: in a folder, model.safetensors (a published model) or else
    checkpoint.pt (a run folder, a model folder published before the weights-only format); a file
    as given. SpaganError naming the path when there is none."""
    path = Path(path)
    if path.is_dir():
        found = next((path / name for name in MODEL_FILES if (path / name).is_file()), None)
        if found is None:
            raise SpaganError(f"{path}: checkpoint not found (no {' or '.join(MODEL_FILES)} in this folder)")
        return found
    if not path.is_file():
        raise SpaganError(f"{path}: checkpoint not found")
    return path


def load_model_state(path: str | Path) -> dict[str, Any]:
    """The networks, config and step behind a model path (see model_file): {"networks": {name:
    state_dict}, "config": {...}, "step": int, ...}, on the CPU. A .safetensors file is read by
    safetensors, anything else as a training checkpoint (torch.load, weights_only=True)."""
    path = model_file(path)
    if path.suffix == ".safetensors":
        return load_weights(path)
    return load_checkpoint(path)
