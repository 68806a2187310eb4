"""What scores translations besides the masks: the domain classifiers (hand-made whole-image and
object-crop, the learned CNN) and, for KID, the Inception extractor with its feature cache.

Built once per evaluation (spagan.evaluation.evaluate) or once per run (evaluation during
training, spagan.evaluation.training_eval), and handed to ``direction_scores`` as `Scorers`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spagan.config import EvalConfig
from spagan.core.errors import SpaganError
from spagan.core.imageio import list_images, load_image_fitted
from spagan.evaluation.metrics.domain_classifier import DomainClassifier
from spagan.evaluation.metrics.features import FeatureCache, InceptionFeatures
from spagan.evaluation.metrics.learned_classifier import LABEL as LEARNED_LABEL
from spagan.evaluation.metrics.learned_classifier import (
    DomainNetSettings,
    LearnedDomainClassifier,
    load_or_train,
    resize,
)
from spagan.evaluation.metrics.localisation import nanmean

# direction -> (source test folder, target test folder, target domain label)
DIRECTIONS = {"a2b": ("testA", "testB", "B"), "b2a": ("testB", "testA", "A")}


@dataclass(frozen=True)
class Scorers:
    """What scores the translations besides the masks; None where unavailable (KID: kid_status says why)."""

    classifier: DomainClassifier | None
    object_classifier: DomainClassifier | None
    extractor: InceptionFeatures | None
    cache: FeatureCache | None
    kid_status: dict[str, str] | None
    learned: LearnedDomainClassifier | None = None
    # direction -> the learned classifier's features of its real target test images
    learned_targets: dict[str, np.ndarray] | None = None


def domain_classifier(data_dir: Path, seed: int,
                      exclude: Collection[Path] = ()) -> tuple[DomainClassifier | None, dict[str, Any]]:
    """The whole-image domain classifier (trainA vs trainB but `exclude`), or None and why not."""
    if not ((data_dir / "trainA").is_dir() and (data_dir / "trainB").is_dir()):
        return None, {"status": "unavailable",
                      "reason": f"{data_dir} has no trainA/ and trainB/ to train the domain classifier on"}
    classifier = DomainClassifier.fit_folders(data_dir / "trainA", data_dir / "trainB", seed=seed, exclude=exclude)
    return classifier, {"model": "logistic regression on thumbnail, colour histogram, gradient and spectrum features",
                        "scope": "whole image", "trained_on": "trainA vs trainB",
                        "holdout_accuracy": nanmean([classifier.holdout_accuracy])}


def object_classifier(data_dir: Path, seed: int,
                      exclude: Collection[Path] = ()) -> tuple[DomainClassifier | None, dict[str, Any]]:
    """The object-crop domain classifier (trainA vs trainB objects under their masks, but `exclude`),
    or None and why not."""
    if not ((data_dir / "trainA").is_dir() and (data_dir / "trainB").is_dir()):
        return None, {"status": "unavailable", "reason": f"{data_dir} has no trainA/ and trainB/"}
    try:
        classifier = DomainClassifier.fit_object_folders(data_dir, seed=seed, exclude=exclude)
    except SpaganError as exc:  # no (or too few) training masks: the whole-image share is reported instead
        return None, {"status": "unavailable", "reason": str(exc)}
    return classifier, {"model": "calibrated logistic regression (Platt, 3-fold) on the same features plus a "
                                 "contrast-free spectrum",
                        "scope": "object crop (mask bounding box, outside the mask filled with the object's mean "
                                 "colour)",
                        "trained_on": "trainA vs trainB objects",
                        "holdout_accuracy": nanmean([classifier.holdout_accuracy])}


def learned_settings(eval_cfg: EvalConfig) -> DomainNetSettings:
    """The learned domain classifier's settings from the eval section."""
    return DomainNetSettings(size=eval_cfg.learned_classifier_size, width=eval_cfg.learned_classifier_width,
                             epochs=eval_cfg.learned_classifier_epochs, seed=eval_cfg.seed)


def learned_classifier(data_dir: Path, eval_cfg: EvalConfig, size: int, cache_dir: Path | None
                       ) -> tuple[LearnedDomainClassifier | None, dict[str, np.ndarray] | None, dict[str, Any]]:
    """The learned domain classifier (trainA vs trainB, cached by training content and settings),
    its features of each direction's real target test images, and its description with the
    sanity line (accuracy and calibration on testA vs testB reals); or None and why not."""
    if not eval_cfg.learned_classifier:
        return None, None, {"status": "off", "reason": "eval.learned_classifier is false"}
    if not ((data_dir / "trainA").is_dir() and (data_dir / "trainB").is_dir()):
        return None, None, {"status": "unavailable",
                            "reason": f"{data_dir} has no trainA/ and trainB/ to train the learned classifier on"}
    try:
        clf = load_or_train(data_dir / "trainA", data_dir / "trainB", learned_settings(eval_cfg), cache_dir)
    except SpaganError as exc:
        return None, None, {"status": "unavailable", "reason": str(exc)}
    # the real test images as translations are loaded: fitted to the training size, then resized
    reals = {split: [resize(load_image_fitted(p, size)[None], clf.settings.size)[0]
                     for p in list_images(data_dir / split)] for split in ("testA", "testB")}
    stacks = {k: torch.stack(v) if v else torch.zeros(0, 3, clf.settings.size, clf.settings.size)
              for k, v in reals.items()}
    targets = {name: clf.probabilities_and_features(stacks[tgt])[1] for name, (_, tgt, _) in DIRECTIONS.items()}
    info = dict(clf.info, settings=dict(vars(clf.settings)), mmd=LEARNED_LABEL,
                test_sanity=clf.sanity(stacks["testA"], stacks["testB"]))
    return clf, targets, info
