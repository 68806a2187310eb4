"""Demo-data quality from ground-truth object masks: where the attention lands, what else changes.

- :func:`attention_in_mask`: share of the attention mass inside the object mask (1.0 when
  the map is zero everywhere outside the mask; the mask's area share for a uniform map).
- :func:`attention_auc`: ROC AUC of attention values as a score for "pixel is object"
  (0.5 = no better than chance; NaN with a warning when the mask is all object or all
  background, where AUC is undefined).
- :func:`background_l1`: mean |input - translation| over background pixels, for images in
  [-1, 1] (the model's range), reported on the [0, 1] intensity scale (divided by 2).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

log = logging.getLogger(__name__)


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _check_pair(attention: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.squeeze(attention).astype(np.float64)
    m = np.squeeze(mask).astype(bool)
    if a.ndim != 2 or a.shape != m.shape:
        raise ValueError(f"expected attention and mask [H, W] of one shape, got {attention.shape} and {mask.shape}")
    return a, m


def attention_in_mask(attention: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> float:
    """Share of attention mass inside `mask` (attention [H, W] >= 0, mask [H, W] bool/0-1).

    NaN (with a warning) for an all-zero attention map, which has no mass to place.
    """
    a, m = _check_pair(_as_numpy(attention), _as_numpy(mask))
    total = a.sum()
    if total <= 0:
        log.warning("attention_in_mask: attention map is all zero; share undefined (NaN)")
        return math.nan
    return float(a[m].sum() / total)


def attention_auc(attention: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> float:
    """ROC AUC of the attention values against the mask labels; NaN if the mask has one class only."""
    a, m = _check_pair(_as_numpy(attention), _as_numpy(mask))
    if m.all() or not m.any():
        log.warning("attention_auc: mask is all %s; AUC undefined (NaN)", "object" if m.all() else "background")
        return math.nan
    return float(roc_auc_score(m.ravel(), a.ravel()))


def background_l1(
    real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray
) -> float:
    """Mean |real - fake| over background pixels (mask == 0) and channels.

    `real`, `fake`: [3, H, W] in [-1, 1]; result on the [0, 1] scale (0: background
    untouched, 1: every background value flipped end to end). NaN when there is no background.
    """
    r, f = _as_numpy(real).astype(np.float64), _as_numpy(fake).astype(np.float64)
    m = np.squeeze(_as_numpy(mask)).astype(bool)
    if r.shape != f.shape or r.ndim != 3 or r.shape[1:] != m.shape:
        raise ValueError(f"expected real/fake [C, H, W] and mask [H, W], got {r.shape}, {f.shape}, {m.shape}")
    background = ~m
    if not background.any():
        log.warning("background_l1: mask covers the whole image; no background (NaN)")
        return math.nan
    return float(np.abs(r - f)[:, background].mean() / 2.0)


def nanmean(values: list[float]) -> float | None:
    """Mean of the finite values, or None when there are none (JSON-friendly)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None
