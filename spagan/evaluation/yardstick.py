"""The offline yardstick of one direction: measures a do-nothing model fails, with their references.

Per test image it keeps what the measures need (never the images themselves): the object
statistics of the input, the translation and the counterpart (spagan.evaluation.metrics.
object_region), their object-crop domain probabilities, their hand-made features for the
offline distribution score, and the background change of the translation, of the generator's
own output before any blend, and of the counterpart (0 by construction on the demo).

Every measure is also computed for reference rows, so a score always reads against them:
``input_as_output`` (the source image returned unchanged: object translation 0, background
change 0), where counterparts exist ``counterpart_as_output`` (the real target rendering
of the same scene: object translation 1, background change 0), and, for the whole-image
measures, the constant outputs ``constant_grey`` (mid grey, what spagan.evaluation.baselines'
zeroed generator gives) and ``constant_mean`` (the target training set's mean colour, where the
learned classifier knows it). Do-nothing rows must score worse (spagan.evaluation.do_nothing).

With a learned domain classifier (spagan.evaluation.metrics.learned_classifier, trained on the
training split only) every row also gets its share classified as the target, its mean
calibrated P(target) and ``learned_mmd_x100``, an MMD in that classifier's feature space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from spagan.evaluation.do_nothing import do_nothing_flags
from spagan.evaluation.metrics.domain_classifier import DomainClassifier, object_crop
from spagan.evaluation.metrics.kid import kid_from_features
from spagan.evaluation.metrics.learned_classifier import CLASSES, LearnedDomainClassifier, resize
from spagan.evaluation.metrics.learned_classifier import LABEL as LEARNED_LABEL
from spagan.evaluation.metrics.localisation import background_l1, nanmean
from spagan.evaluation.metrics.object_region import ObjectReferences, ObjectStats, object_stats
from spagan.evaluation.metrics.offline_distribution import FEATURE_SIZE, features, offline_mmd

ROWS = ("translation", "input_as_output", "counterpart_as_output", "constant_grey", "constant_mean")
CONSTANTS = ("constant_grey", "constant_mean")  # whole-image measures only: no object, no background


@dataclass
class _Row:
    """What one row (the translations, or a reference) gathers, image by image."""

    stats: list[ObjectStats] = field(default_factory=list)
    crops: list[torch.Tensor] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    background: list[float] = field(default_factory=list)
    small: list[torch.Tensor] = field(default_factory=list)  # at the learned classifier's size


@dataclass
class Yardstick:
    """Accumulates one direction's images; `result()` scores them.

    object_classifier: the object-crop domain classifier (None without training masks);
    whole_classifier: the whole-image one (None without trainA/ and trainB/); target: "A" or "B".
    """

    target: str
    object_classifier: DomainClassifier | None
    whole_classifier: DomainClassifier | None
    learned: LearnedDomainClassifier | None = None
    rows: dict[str, _Row] = field(default_factory=lambda: {r: _Row() for r in ROWS})
    generator_background: list[float] = field(default_factory=list)
    with_pair: list[bool] = field(default_factory=list)
    n_masked: int = 0

    def __post_init__(self) -> None:
        if self.whole_classifier is not None and self.whole_classifier.size != FEATURE_SIZE:
            raise ValueError(f"the whole-image classifier reads {self.whole_classifier.size} px features, "
                             f"the yardstick computes {FEATURE_SIZE} px")

    def add(self, real: torch.Tensor, fake: torch.Tensor, generated: torch.Tensor | None,
            mask: np.ndarray | None, pair: torch.Tensor | None) -> None:
        """One test image: its input, translation, generator output (None: same as the translation),
        object mask and counterpart (None where there is none)."""
        images = {"translation": fake, "input_as_output": real}
        if pair is not None:
            images["counterpart_as_output"] = pair
        images["constant_grey"] = torch.zeros_like(real)  # tanh(0): a zeroed last layer's output
        if self.learned is not None:
            colour = torch.tensor(self.learned.info["mean_colour"][self.target], dtype=real.dtype)
            images["constant_mean"] = colour.view(3, 1, 1).expand_as(real).contiguous()
        self.with_pair.append(pair is not None)
        for name, image in images.items():
            row = self.rows[name]
            row.features.append(features([image])[0])  # also what the whole-image classifier reads
            if self.learned is not None:
                row.small.append(resize(image[None], self.learned.settings.size)[0])
            if mask is not None and name not in CONSTANTS:
                stats = object_stats(image, mask)
                if stats is not None:
                    row.stats.append(stats)
                    row.crops.append(object_crop(image, mask))
                row.background.append(background_l1(real, image, mask))
        if mask is not None:
            self.n_masked += 1
            self.generator_background.append(background_l1(real, fake if generated is None else generated, mask))

    def _object_scores(self, target_objects: list[ObjectStats]) -> dict[str, dict[str, float]]:
        """Object translation per row, against the counterparts and the target test objects."""
        inputs = self.rows["input_as_output"].stats
        refs = self.rows["counterpart_as_output"].stats + target_objects
        if not inputs or not refs:
            return {}
        ref = ObjectReferences.build(inputs, refs)
        out = {}
        for name in ROWS:
            stats = self.rows[name].stats
            if len(stats) == len(inputs):
                s = ref.scores(stats)
                out[name] = {"object_translation": s["object_translation"], "object_colour": s["colour"],
                             "object_structure": s["structure"]}
        return out

    def _domain_scores(self, name: str) -> dict[str, Any]:
        """Object-crop probability of the target and share above 0.5; whole-image share."""
        row, out = self.rows[name], {}
        if self.object_classifier is not None and row.crops:
            prob = self.object_classifier.probability(torch.stack(row.crops), self.target)
            out["object_domain_probability"] = float(prob.mean())
            out["object_domain_share"] = float((prob > 0.5).mean())
        if self.whole_classifier is not None and row.features:
            labels = self.whole_classifier.predict_features(np.stack(row.features))
            out["success_share"] = float((labels == self.target).mean())
        return out

    def _learned_scores(self, name: str, real_target_learned: np.ndarray | None, *, subsets: int,
                        subset_size: int, seed: int) -> dict[str, Any]:
        """Share classified as the target, mean calibrated P(target) and the learned-feature MMD."""
        row = self.rows[name]
        if self.learned is None or not row.small:
            return {}
        probs, feats = self.learned.probabilities_and_features(torch.stack(row.small))
        target = CLASSES.index(self.target)
        out: dict[str, Any] = {"learned_domain_share": float((probs.argmax(1) == target).mean()),
                               "learned_domain_probability": float(probs[:, target].mean())}
        if real_target_learned is not None and min(len(feats), len(real_target_learned)) >= 2:
            mean, std = kid_from_features(feats, real_target_learned, subsets, subset_size, seed)
            out["learned_mmd_x100"] = {"mean": 100 * mean, "std": 100 * std, "label": LEARNED_LABEL,
                                       "subset_size": min(subset_size, len(feats), len(real_target_learned)),
                                       "n_real": len(real_target_learned)}
        return out

    def result(self, target_objects: list[ObjectStats], real_target_features: np.ndarray, *, subsets: int,
               subset_size: int, seed: int, real_target_learned: np.ndarray | None = None) -> dict[str, Any]:
        """The translation's measures (flat keys), the reference rows under "references" and, under
        "do_nothing", whether each measure fails every do-nothing row (spagan.evaluation.do_nothing).
        real_target_learned: the learned classifier's features of the real target test images."""
        objects = self._object_scores(target_objects)
        source = np.stack(self.rows["input_as_output"].features)
        rows: dict[str, dict[str, Any]] = {}
        for name in ROWS:
            row = self.rows[name]
            if name == "counterpart_as_output" and not (self.with_pair and all(self.with_pair)):
                continue  # a partial set of counterparts would be a different test set
            if not row.features:
                continue  # constant_mean without a learned classifier (no training mean colour)
            scores: dict[str, Any] = dict(objects.get(name, {}))
            scores.update(self._domain_scores(name))
            scores["offline_mmd_x100"] = offline_mmd(np.stack(row.features), real_target_features, source,
                                                     subsets=subsets, subset_size=subset_size, seed=seed)
            scores.update(self._learned_scores(name, real_target_learned, subsets=subsets,
                                               subset_size=subset_size, seed=seed))
            if name not in CONSTANTS:
                scores["background_l1"] = nanmean(row.background)
            rows[name] = scores
        main = rows.pop("translation")
        main["background_l1_generator"] = nanmean(self.generator_background)
        main["references"] = rows
        main["n_counterparts"] = int(sum(self.with_pair))
        main["do_nothing"] = do_nothing_flags(main)
        return main
