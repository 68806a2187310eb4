"""Real masks (e.g. the Weizmann horses as a masked testA): where the source discriminator's
attention lands, and whether the translation changes the object rather than its surroundings.

Per masked test image, at the resolution it is translated at (the mask resized to the image's
exact size by spagan.evaluation.metrics.masks.load_mask), :class:`MaskedScores` gathers

- attention ROC AUC and the share of attention mass inside the mask, for the model's map (D_A's
  for testA) and for two maps that know nothing about horses: a **uniform** map (AUC exactly 0.5,
  in-mask share = the mask's area share) and a **centre prior** (a Gaussian bump in the image's
  centre, sigma a quarter of each side: photographers centre their subject, so this is what
  "looks at the middle" scores, the bar a map must clear to show it found the object);
- the change the translation makes **inside** the mask and **outside** it: mean |input - output|
  over pixels and channels on the [0, 1] scale, and their ratio (of the means over all images).
  Reference rows: ``input_as_output`` (the input returned unchanged: 0 inside and 0 outside, the
  ratio undefined) and ``constant_as_output`` (what spagan.evaluation.baselines' constant
  generators output, tanh(0) = mid grey: a change everywhere, ratio near 1). A translation that
  turns the horse into a zebra and leaves the field alone changes a lot inside, little outside
  (ratio well above 1); a measure of the background alone would be passed by the unchanged input,
  and one of the inside alone by the constant output, so read the three together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from spagan.evaluation.metrics.localisation import attention_auc, attention_in_mask, nanmean

# The image spagan.evaluation.baselines.constant_generators' G outputs: tanh(0) in the [-1, 1] range.
CONSTANT_OUTPUT = 0.0
MAP_ROWS = ("attention", "uniform", "centre_prior")
CHANGE_ROWS = ("translation", "input_as_output", "constant_as_output")
CENTRE_SIGMA = 0.25  # of each side: a bump that covers the middle half of the frame


def change_inside_outside(real: torch.Tensor | np.ndarray, output: torch.Tensor | np.ndarray,
                          mask: np.ndarray) -> tuple[float, float]:
    """(inside, outside): mean |real - output| over the mask's pixels and over the rest, all channels,
    on the [0, 1] scale (images [C, H, W] in [-1, 1], mask [H, W] bool); NaN for an empty region."""
    r = real.detach().cpu().numpy() if isinstance(real, torch.Tensor) else np.asarray(real)
    o = output.detach().cpu().numpy() if isinstance(output, torch.Tensor) else np.asarray(output)
    m = np.asarray(mask).astype(bool)
    if r.shape != o.shape or r.ndim != 3 or r.shape[1:] != m.shape:
        raise ValueError(f"expected real/output [C, H, W] and mask [H, W] of one size, got {r.shape}, {o.shape}, "
                         f"{m.shape}")
    diff = np.abs(r.astype(np.float64) - o.astype(np.float64)) / 2.0
    inside = float(diff[:, m].mean()) if m.any() else math.nan
    outside = float(diff[:, ~m].mean()) if (~m).any() else math.nan
    return inside, outside


def centre_prior(height: int, width: int) -> np.ndarray:
    """A [height, width] map in (0, 1]: a Gaussian bump at the centre, sigma CENTRE_SIGMA of each side."""
    y = (np.arange(height) + 0.5) / height - 0.5
    x = (np.arange(width) + 0.5) / width - 0.5
    return np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * CENTRE_SIGMA ** 2))


def _ratio(inside: float | None, outside: float | None) -> float | None:
    """inside / outside, or None where either is missing or outside is 0 (the unchanged input)."""
    if inside is None or outside is None or outside <= 0:
        return None
    return inside / outside


@dataclass
class MaskedScores:
    """One direction's masked test images, added one by one; `result()` gives the measures and rows."""

    auc: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in MAP_ROWS})
    in_mask: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in MAP_ROWS})
    inside: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in CHANGE_ROWS})
    outside: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in CHANGE_ROWS})
    mask_share: list[float] = field(default_factory=list)

    def add(self, attention: torch.Tensor | np.ndarray, real: torch.Tensor, fake: torch.Tensor,
            mask: np.ndarray) -> None:
        """One image: the model's attention map [H, W], input and translation [3, H, W] in [-1, 1],
        and its mask [H, W] (bool), all at the same size."""
        a = attention.detach().cpu().numpy() if isinstance(attention, torch.Tensor) else np.asarray(attention)
        a = np.squeeze(a)
        if a.shape != mask.shape or tuple(real.shape[-2:]) != mask.shape:
            raise ValueError(f"attention {a.shape}, image {tuple(real.shape[-2:])} and mask {mask.shape} must be "
                             "one size (the mask follows the image it belongs to)")
        maps = {"attention": a, "uniform": np.ones_like(a), "centre_prior": centre_prior(*mask.shape)}
        for name, m in maps.items():
            self.auc[name].append(attention_auc(m, mask))
            self.in_mask[name].append(attention_in_mask(m, mask))
        outputs = {"translation": fake, "input_as_output": real,
                   "constant_as_output": torch.full_like(real, CONSTANT_OUTPUT)}
        for name, out in outputs.items():
            inside, outside = change_inside_outside(real, out, mask)
            self.inside[name].append(inside)
            self.outside[name].append(outside)
        self.mask_share.append(float(np.asarray(mask).mean()))

    @property
    def n_images(self) -> int:
        return len(self.mask_share)

    def result(self) -> dict[str, Any]:
        """{"n_images", "mask_share", "attention": {row: {"auc", "in_mask"}}, "change": {row: {"inside",
        "outside", "ratio"}}}; the model's rows are "attention" and "translation", the others references."""
        change = {}
        for name in CHANGE_ROWS:
            inside, outside = nanmean(self.inside[name]), nanmean(self.outside[name])
            change[name] = {"inside": inside, "outside": outside, "ratio": _ratio(inside, outside)}
        return {
            "n_images": self.n_images,
            "mask_share": nanmean(self.mask_share),
            "attention": {name: {"auc": nanmean(self.auc[name]), "in_mask": nanmean(self.in_mask[name])}
                          for name in MAP_ROWS},
            "change": change,
        }
