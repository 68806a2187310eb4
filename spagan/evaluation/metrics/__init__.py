"""Evaluation metrics, one idea per module.

- ``kid``: KID (unbiased MMD^2, cubic polynomial kernel) on feature arrays: pure math.
- ``features``: Inception-v3 pool features from weights on disk, and their cache.
- ``localisation``: attention-in-mask share, attention ROC AUC, background L1 (needs masks).
- ``domain_classifier``: share of translations a scikit-learn A-vs-B classifier calls the target.
"""

from spagan.evaluation.metrics.kid import kid_from_features

__all__ = ["kid_from_features"]
