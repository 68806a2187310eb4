"""An offline distribution score for machines without Inception weights: never called KID.

KID's estimator (unbiased MMD^2, cubic polynomial kernel, random subsets; spagan.evaluation.
metrics.kid) over the hand-made image features of the domain classifier (thumbnail, colour
histograms, gradient energy, spectrum bands) instead of Inception pool features. Each feature
is standardised by its mean and spread over the real test images of both domains (fixed for a
test set, whatever the model), so no feature dominates by its units and a feature that is
constant in one domain cannot blow up. Reported x 100 like KID, labelled ``hand-made feature MMD``: its values are not
comparable with KID's or with any published number, only with other runs of this function on
the same test data (the input-as-output and counterpart-as-output rows give its scale).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from spagan.evaluation.metrics.domain_classifier import image_features
from spagan.evaluation.metrics.kid import kid_from_features

LABEL = "hand-made feature MMD x100 (not KID: thumbnail, colour histogram, gradient and spectrum features)"
FEATURE_SIZE = 64  # images are resized to this before featurising, as the domain classifier does


def features(images: list[torch.Tensor]) -> np.ndarray:
    """Hand-made features [N, F] of images ([3, H, W] in [-1, 1], any sizes)."""
    if not images:
        return np.zeros((0, 0))
    return np.concatenate([image_features(im[None], FEATURE_SIZE) for im in images])


def offline_mmd(fake: np.ndarray, real: np.ndarray, source: np.ndarray, *, subsets: int, subset_size: int,
                seed: int) -> dict[str, Any]:
    """{mean, std} x 100 of the MMD between translations' and real target images' features
    (standardised over the real source and target test images), or {status: unavailable,
    reason} with fewer than 2 images on a side."""
    if min(len(fake), len(real)) < 2:
        return {"status": "unavailable", "reason": "fewer than 2 translated or real target images"}
    pooled = np.concatenate([real, source]) if len(source) else real
    mu, sigma = pooled.mean(0), pooled.std(0) + 1e-6
    mean, std = kid_from_features((fake - mu) / sigma, (real - mu) / sigma, subsets, subset_size, seed)
    return {"mean": 100 * mean, "std": 100 * std, "label": LABEL,
            "subset_size": min(subset_size, len(fake), len(real)), "n_real": len(real)}
