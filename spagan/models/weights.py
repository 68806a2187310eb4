"""Weights-only model files (model.safetensors): what sharing and deploying a model needs.

A training checkpoint (checkpoint.pt) holds everything a run needs to resume: networks,
optimisers, schedulers, image pools, RNG. A published model needs only the four networks
(G, F, D_A, D_B: translation multiplies the input by the source discriminator's attention) and
the config they were built from, in a safetensors file: tensors and a string -> string header,
read without pickle, so a file from anyone is data and never code. The tensors are keyed
``<network>.<parameter>`` (``G.encoder.0.weight``); the header holds

    format          "spagan-weights/1"
    config          the resolved config of the run (its whole ``config`` dict, JSON)
    step            the training steps behind the weights
    lineage_digest  (published models) spagan.lineage.record.lineage_digest: 16 hex digits naming
                    the data version, params digest and code digest it was trained from, the
                    ones its lineage.json records
    ...             any other extra_metadata given

safetensors writes the header's metadata in a random order; the header is rewritten with the keys
sorted, so the same weights and metadata always make the same bytes (and the same sha256).
"""

import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_bytes
from spagan.core.layout import WEIGHTS_NAME  # noqa: F401  (re-exported)

WEIGHTS_FORMAT = "spagan-weights/1"
NETWORK_NAMES = ("G", "F", "D_A", "D_B")
RESERVED_KEYS = ("format", "config", "step")


def weights_bytes(networks_state: dict[str, dict[str, torch.Tensor]], config: dict[str, Any], *, step: int,
                  extra_metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of `networks_state` ({name: state_dict} for G, F, D_A, D_B) with
    `config`, `step` and `extra_metadata` (strings) in the header."""
    missing = [n for n in NETWORK_NAMES if n not in networks_state]
    if missing or set(networks_state) - set(NETWORK_NAMES):
        raise ValueError(f"networks_state must hold exactly {NETWORK_NAMES}, got {sorted(networks_state)}")
    extra = dict(extra_metadata or {})
    clash = [k for k in extra if k in RESERVED_KEYS]
    if clash or not all(isinstance(v, str) for v in extra.values()):
        raise ValueError(f"extra_metadata: string values, none of {RESERVED_KEYS} (got {sorted(extra)})")
    tensors = {f"{name}.{key}": t.detach().cpu().contiguous()  # channels_last and GPU tensors included
               for name in NETWORK_NAMES for key, t in networks_state[name].items()}
    metadata = {"format": WEIGHTS_FORMAT, "config": json.dumps(config, sort_keys=True), "step": str(int(step)), **extra}
    return _sorted_header(save(tensors, metadata=metadata))


def _sorted_header(data: bytes) -> bytes:
    """`data` with the header's __metadata__ keys sorted (the tensor table and bytes unchanged;
    offsets count from the end of the header, so a header of another length is still valid)."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes, as it writes it
    return struct.pack("<Q", len(text)) + text + data[8 + length:]


def save_weights(networks_state: dict[str, dict[str, torch.Tensor]], config: dict[str, Any], path: str | Path, *,
                 step: int, extra_metadata: dict[str, str] | None = None) -> Path:
    """Write a model.safetensors atomically (a crash leaves the old file or the new one)."""
    atomic_write_bytes(path, weights_bytes(networks_state, config, step=step, extra_metadata=extra_metadata))
    return Path(path)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The header metadata of a safetensors file; SpaganError naming the file if it is missing or
    not a safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise SpaganError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types, and OSError
        raise SpaganError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None


def load_weights(path: str | Path) -> dict[str, Any]:
    """A model.safetensors as {"networks": {name: state_dict}, "config": {...}, "step": int,
    "metadata": the header}, the shape load_checkpoint gives callers (read by safetensors, no
    pickle). SpaganError naming the file if missing, corrupt or not a SPA-GAN model file."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != WEIGHTS_FORMAT or "config" not in meta:
        raise SpaganError(f"{path}: not a SPA-GAN model file (no {WEIGHTS_FORMAT} config in its header)")
    try:
        config = json.loads(meta["config"])
        step = int(meta.get("step", 0))
    except ValueError as exc:
        raise SpaganError(f"{path}: SPA-GAN model file with an unreadable header ({exc})") from None
    networks: dict[str, dict[str, torch.Tensor]] = {name: {} for name in NETWORK_NAMES}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                name, _, param = key.partition(".")
                if name not in networks or not param:
                    raise SpaganError(f"{path}: tensor {key!r} belongs to none of {NETWORK_NAMES}")
                networks[name][param] = f.get_tensor(key)
    except SpaganError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated file fails only when its tensors are read
        raise SpaganError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    empty = [n for n, state in networks.items() if not state]
    if empty:
        raise SpaganError(f"{path}: no tensors for {', '.join(empty)} (a model file holds G, F, D_A and D_B)")
    return {"networks": networks, "config": config, "step": step, "metadata": meta}
