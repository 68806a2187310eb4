"""Object translation inside the mask: is the object now like a real target-domain object?

Each object region (the pixels of its ground-truth mask) is described by two groups of
statistics that do not depend on where a stripe falls (the stripes' phase is not determined by
the input, so no pixel L1 inside the object):

- ``colour``: the mean R, G, B of the object;
- ``structure``: the object's luminance histogram (8 bins: contrast and how two-toned it is),
  its luminance spread, and the mean luminance gradient along x and y between object pixels.

The references are real target objects: the counterparts (the same scene rendered with the
other domain's object) and the target domain's own test objects. For a set of translations,
each group scores

    s = 1 - mean_i d(out_i) / mean_i d(in_i)

where d(v) is the distance from v's statistics to the nearest reference (each statistic divided
by its spread over the inputs and references), `in_i` the source image and `out_i` its
translation. So the input returned unchanged scores exactly 0 and the counterpart returned as
the translation scores exactly 1; below 0 is further from the target than the input was.

``object_translation`` is the smaller of the two groups: fading a striped object toward grey
removes its contrast (structure moves) without giving it a plain object's colour (colour does
not), and recolouring without removing the stripes is no translation either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

HIST_BINS = 8
GROUPS = ("colour", "structure")
_EPS = 1e-8
_LUMA = torch.tensor([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class ObjectStats:
    """The statistics of one object region, per group."""

    colour: np.ndarray
    structure: np.ndarray

    def group(self, name: str) -> np.ndarray:
        return getattr(self, name)


def object_stats(image: torch.Tensor, mask: torch.Tensor | np.ndarray) -> ObjectStats | None:
    """Statistics of the object in `image` ([3, H, W] in [-1, 1]) under `mask` ([H, W] bool);
    None when the mask is empty."""
    m = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
    if m.shape != image.shape[-2:]:
        raise ValueError(f"mask {tuple(m.shape)} does not match image {tuple(image.shape)}")
    if not m.any():
        return None
    x = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2  # [0, 1]
    colour = x[:, m].mean(1)
    luma = torch.einsum("c,chw->hw", _LUMA, x)
    values = luma[m]
    hist = torch.histc(values, HIST_BINS, 0.0, 1.0) / values.numel()
    # gradients only between two object pixels: the object's edge against the background is not texture
    gx = (luma[:, 1:] - luma[:, :-1]).abs()[m[:, 1:] & m[:, :-1]]
    gy = (luma[1:, :] - luma[:-1, :]).abs()[m[1:, :] & m[:-1, :]]
    grads = [g.mean() if g.numel() else torch.tensor(0.0) for g in (gx, gy)]
    structure = torch.cat([hist, values.std(unbiased=False).reshape(1), torch.stack(grads)])
    return ObjectStats(colour.double().numpy(), structure.double().numpy())


def _nearest(values: np.ndarray, refs: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Distance of each row of `values` to its nearest row of `refs`, per-statistic scaled."""
    diff = (values[:, None, :] - refs[None, :, :]) / scale
    return np.sqrt((diff**2).sum(-1)).min(1)


@dataclass(frozen=True)
class ObjectReferences:
    """Real target objects and the per-statistic scale, fixed for one direction's evaluation."""

    refs: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray]

    @classmethod
    def build(cls, inputs: list[ObjectStats], targets: list[ObjectStats]) -> ObjectReferences:
        """From the source objects (the inputs) and the real target objects (counterparts and
        target-domain test objects): the scale is each statistic's spread over both."""
        if not inputs or not targets:
            raise ValueError("need source and target objects")
        refs, scale, ins = {}, {}, {}
        for g in GROUPS:
            ins[g] = np.stack([s.group(g) for s in inputs])
            refs[g] = np.stack([s.group(g) for s in targets])
            scale[g] = np.concatenate([ins[g], refs[g]]).std(0) + _EPS
        return cls(refs, scale, ins)

    def scores(self, outputs: list[ObjectStats]) -> dict[str, float]:
        """{colour, structure, object_translation} of translations given in the inputs' order."""
        if len(outputs) != len(self.inputs[GROUPS[0]]):
            raise ValueError(f"expected {len(self.inputs[GROUPS[0]])} translations, got {len(outputs)}")
        out: dict[str, float] = {}
        for g in GROUPS:
            d_in = _nearest(self.inputs[g], self.refs[g], self.scale[g]).mean()
            d_out = _nearest(np.stack([s.group(g) for s in outputs]), self.refs[g], self.scale[g]).mean()
            out[g] = float(1 - d_out / d_in) if d_in > _EPS else math.nan
        out["object_translation"] = min(out[g] for g in GROUPS)
        return out
