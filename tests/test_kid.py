"""KID math: against scikit-learn's polynomial kernel and on known cases."""

import numpy as np
import pytest
from sklearn.metrics.pairwise import polynomial_kernel as sk_poly

from spagan.evaluation.metrics.kid import kid_from_features, mmd2_unbiased


def _reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 written out with loops over sklearn's kernel matrices."""
    d = x.shape[1]
    kxx = sk_poly(x, x, degree=3, gamma=1.0 / d, coef0=1)
    kyy = sk_poly(y, y, degree=3, gamma=1.0 / d, coef0=1)
    kxy = sk_poly(x, y, degree=3, gamma=1.0 / d, coef0=1)
    m, n = len(x), len(y)
    sxx = sum(kxx[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(kyy[i, j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return sxx + syy - 2 * kxy.sum() / (m * n)


def test_mmd2_matches_sklearn_reference():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(17, 8)), rng.normal(0.3, 1.2, size=(23, 8))
    assert mmd2_unbiased(x, y) == pytest.approx(_reference_mmd2(x, y), rel=1e-10)


def test_kid_with_full_subsets_equals_reference_and_has_zero_std():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 16)), rng.normal(0.5, 1.0, size=(20, 16))
    mean, std = kid_from_features(x, y, num_subsets=5, subset_size=1000, seed=0)  # clipped to 20
    assert mean == pytest.approx(_reference_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_same_distribution_near_zero_and_shift_clearly_positive():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(200, 32)), rng.normal(size=(200, 32))
    shifted = rng.normal(1.0, 1.0, size=(200, 32))
    same, same_std = kid_from_features(a, b, num_subsets=20, subset_size=100, seed=0)
    diff, _ = kid_from_features(a, shifted, num_subsets=20, subset_size=100, seed=0)
    assert abs(same) < 3 * same_std + 0.01
    assert diff > 10 * max(abs(same), 0.01)


def test_order_invariant_and_symmetric():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 8)), rng.normal(0.2, 1.0, size=(30, 8))
    base = kid_from_features(a, b, num_subsets=3, subset_size=30, seed=0)
    permuted = kid_from_features(a[rng.permutation(30)], b[rng.permutation(30)], 3, 30, seed=0)
    swapped = kid_from_features(b, a, num_subsets=3, subset_size=30, seed=0)
    assert permuted[0] == pytest.approx(base[0], rel=1e-10)
    assert swapped[0] == pytest.approx(base[0], rel=1e-10)


def test_seeded_subsets_are_reproducible_and_seed_matters():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(100, 8)), rng.normal(0.3, 1.0, size=(100, 8))
    first = kid_from_features(a, b, num_subsets=10, subset_size=20, seed=7)
    again = kid_from_features(a, b, num_subsets=10, subset_size=20, seed=7)
    other = kid_from_features(a, b, num_subsets=10, subset_size=20, seed=8)
    assert first == again
    assert first != other


def test_rejects_mismatched_or_tiny_inputs():
    with pytest.raises(ValueError, match="same d"):
        kid_from_features(np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="at least 2"):
        kid_from_features(np.zeros((1, 3)), np.zeros((4, 3)))
