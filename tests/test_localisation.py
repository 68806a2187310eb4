"""Attention localisation and background preservation on hand-made maps and masks."""

import logging
import math

import numpy as np
import pytest
import torch

from spagan.evaluation.metrics.localisation import attention_auc, attention_in_mask, background_l1, nanmean


def _square_mask(size=16, lo=4, hi=12):
    m = np.zeros((size, size), bool)
    m[lo:hi, lo:hi] = True
    return m


def test_map_entirely_inside_mask_scores_one():
    mask = _square_mask()
    attn = np.zeros((16, 16))
    attn[5:11, 5:11] = np.linspace(0.1, 1.0, 36).reshape(6, 6)
    assert attention_in_mask(attn, mask) == pytest.approx(1.0)
    assert attention_in_mask(torch.tensor(attn)[None], torch.tensor(mask)[None]) == pytest.approx(1.0)


def test_uniform_map_scores_mask_area_and_auc_half():
    mask = _square_mask()
    attn = np.full((16, 16), 0.7)
    assert attention_in_mask(attn, mask) == pytest.approx(mask.mean())
    assert attention_auc(attn, mask) == pytest.approx(0.5)


def test_auc_perfect_inverted_and_partial():
    mask = _square_mask()
    assert attention_auc(mask.astype(float), mask) == pytest.approx(1.0)
    assert attention_auc(1.0 - mask, mask) == pytest.approx(0.0)
    noisy = mask * 0.3 + np.random.default_rng(0).uniform(0, 1.0, mask.shape)
    assert 0.5 < attention_auc(noisy, mask) < 1.0


def test_degenerate_masks_give_nan_with_warning(caplog):
    attn = np.random.default_rng(1).uniform(size=(8, 8))
    with caplog.at_level(logging.WARNING):
        assert math.isnan(attention_auc(attn, np.ones((8, 8))))
        assert math.isnan(attention_auc(attn, np.zeros((8, 8))))
        assert math.isnan(attention_in_mask(np.zeros((8, 8)), np.ones((8, 8))))
    assert "all object" in caplog.text and "all background" in caplog.text


def test_background_l1_ignores_object_changes():
    mask = _square_mask()
    real = torch.zeros(3, 16, 16)
    fake = real.clone()
    fake[:, mask] = 1.0  # object changed completely
    assert background_l1(real, fake, mask) == pytest.approx(0.0)
    fake[:, ~mask] = 0.5  # background shifted by 0.5 in [-1, 1] = 0.25 on [0, 1]
    assert background_l1(real, fake, mask) == pytest.approx(0.25)
    assert background_l1(-torch.ones(3, 16, 16), torch.ones(3, 16, 16), mask) == pytest.approx(1.0)
    assert math.isnan(background_l1(real, fake, np.ones((16, 16))))


def test_shape_mismatch_raises_and_nanmean_skips_nan():
    with pytest.raises(ValueError, match="one shape"):
        attention_in_mask(np.ones((4, 4)), np.ones((5, 5)))
    assert nanmean([1.0, math.nan, 3.0]) == 2.0
    assert nanmean([math.nan]) is None
