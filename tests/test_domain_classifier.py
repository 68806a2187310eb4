"""Domain classifier: learns plain vs. striped objects on textured backgrounds, seeded."""

import math

import numpy as np
import pytest
import torch

from spagan.evaluation.metrics.domain_classifier import DomainClassifier, image_features


def _scenes(n, striped, seed, size=32):
    """Textured background with a square object; B's objects are striped (horse/zebra in miniature)."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(n, 3, size, size, generator=g) * 0.6 - 0.8
    for i in range(n):
        y, x = torch.randint(0, size - 14, (2,), generator=g).tolist()
        imgs[i, :, y:y + 12, x:x + 12] = 0.5
        if striped:
            imgs[i, :, y:y + 12, x:x + 12:3] = -1.0
    return imgs


def test_features_shape_and_resize():
    feats = image_features(_scenes(3, False, 0), size=32)
    assert feats.shape[0] == 3 and np.isfinite(feats).all()
    assert image_features(_scenes(2, False, 0, size=48), size=32).shape == (2, feats.shape[1])


def test_classifies_held_out_scenes_by_domain():
    clf = DomainClassifier.fit(_scenes(24, False, 1), _scenes(24, True, 2), seed=0, size=32)
    assert clf.holdout_accuracy >= 0.8
    assert clf.share_classified_as(_scenes(20, True, 3), "B") >= 0.9
    assert clf.share_classified_as(_scenes(20, False, 4), "B") <= 0.1
    assert clf.share_classified_as(_scenes(20, False, 4), "A") >= 0.9


def test_seeded_fit_is_reproducible_and_bad_input_rejected():
    a, b, probe = _scenes(12, False, 5), _scenes(12, True, 6), _scenes(10, True, 7)
    first = DomainClassifier.fit(a, b, seed=3, size=32)
    second = DomainClassifier.fit(a, b, seed=3, size=32)
    np.testing.assert_array_equal(first.pipeline.predict_proba(image_features(probe, 32)),
                                  second.pipeline.predict_proba(image_features(probe, 32)))
    with pytest.raises(ValueError, match="'A' or 'B'"):
        first.share_classified_as(probe, "C")
    assert math.isnan(first.share_classified_as(probe[:0], "B"))
    with pytest.raises(ValueError, match="at least 2"):
        DomainClassifier.fit(a[:1], b, seed=0)
