"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 3).

KID is the unbiased estimate of the squared Maximum Mean Discrepancy between two feature
sets under the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, averaged over random
subsets. SPA-GAN (Sec. 4) reports it x 100 as mean +/- std; this module returns the raw
value and callers scale it. Pure math on arrays: no model, no files.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(a, b) = (a.b / d + 1)^3 for every row pair of `x` [n, d] and `y` [m, d] -> [n, m]."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples `x` [m, d] and `y` [n, d] (diagonals of k_xx, k_yy excluded)."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"MMD^2 needs at least 2 samples per set, got {m} and {n}")
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    sum_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    sum_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2.0 * k_xy.mean())


def kid_from_features(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID between two feature sets: mean and std of MMD^2 over `num_subsets` random subsets.

    Each subset draws `subset_size` rows without replacement from each set, with a
    generator seeded by `seed` (so a score is reproducible); `subset_size` is clipped to
    the smaller set. Returns the raw values (multiply by 100 for the paper's scale).
    """
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two [n, d] feature arrays with the same d, got {a.shape} and {b.shape}")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be at least 1, got {num_subsets}")
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    scores = np.empty(num_subsets)
    for i in range(num_subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        scores[i] = mmd2_unbiased(x, y)
    return float(scores.mean()), float(scores.std())


def kid_sample(n_fake: int, n_real: int, subsets: int, subset_size: int) -> dict[str, Any]:
    """How a KID was sampled: the subset size actually used, the number of subsets, both image
    counts, and, when the subset size was clipped to the smaller set, what its std then means.

    Clipping follows clean-fid (``kernel_distance``: min(n1, n2, max_subset_size)); torch-fidelity
    refuses instead. On horse2zebra (120 / 140 test images) the standard 1000 is always clipped.
    """
    size = min(subset_size, n_fake, n_real)
    sample: dict[str, Any] = {"subsets": subsets, "subset_size": size, "n_translations": n_fake, "n_real": n_real}
    if size < subset_size:
        sample["subset_size_requested"] = subset_size
        if size == n_fake == n_real:
            whole = "all translations and all real images: every subset is the same, the std is 0"
        elif size == n_fake:
            whole = "all translations: the std reflects only the resampling of the real images"
        else:
            whole = "all real images: the std reflects only the resampling of the translations"
        sample["note"] = f"subsets of {size} = {whole}"
    return sample
