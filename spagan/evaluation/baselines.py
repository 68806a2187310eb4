"""Do-nothing models every quality measure must fail: generators that output a constant.

The input returned unchanged is a reference row of every evaluation (spagan.evaluation.
yardstick); this module makes the other baseline as a real checkpoint, so it runs through the
same `evaluate` as a trained model: the last convolution of G and F zeroed, so both output
tanh(0), a constant mid grey (under model.attention_blend the composed output is then the
input dimmed where the attention is high).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spagan.models.checkpoint import load_model_state, save_checkpoint
from spagan.models.weights import save_weights


def constant_generators(state: dict[str, Any]) -> dict[str, Any]:
    """A model state's (see load_model_state) with the last convolution of G and F zeroed (in place)."""
    for name in ("G", "F"):
        weights = state["networks"][name]
        last = max(int(k.split(".")[1]) for k in weights if k.startswith("decoder_rest.") and k.endswith(".weight"))
        weights[f"decoder_rest.{last}.weight"].zero_()
        weights[f"decoder_rest.{last}.bias"].zero_()
    return state


def write_constant_checkpoint(src: str | Path, dst: str | Path, **model: Any) -> Path:
    """`src` (checkpoint.pt, model.safetensors or a model/run folder) with constant generators,
    written to `dst` (weights only when it ends in .safetensors, else a checkpoint of the networks,
    config and step); `model` keys (e.g. attention_blend=True) replace the stored model config, to
    test a reading on the same weights."""
    state = constant_generators(load_model_state(src))
    state["config"]["model"].update(model)
    if Path(dst).suffix == ".safetensors":
        save_weights(state["networks"], state["config"], dst, step=state.get("step", 0))
    else:
        save_checkpoint({"networks": state["networks"], "config": state["config"], "step": state.get("step", 0)}, dst)
    return Path(dst)
