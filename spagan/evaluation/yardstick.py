"""The offline yardstick of one direction: measures a do-nothing model fails, with their references.

Per test image it keeps what the measures need (never the images themselves): the object
statistics of the input, the translation and the counterpart (spagan.evaluation.metrics.
object_region), their object-crop domain probabilities, their hand-made features for the
offline distribution score, and the background change of the translation, of the generator's
own output before any blend, and of the counterpart (0 by construction on the demo).

Every measure is also computed for two reference rows, so a score always reads against them:
``input_as_output`` (the source image returned unchanged: object translation 0, background
change 0) and, where counterparts exist, ``counterpart_as_output`` (the real target rendering
of the same scene: object translation 1, background change 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from spagan.evaluation.metrics.domain_classifier import DomainClassifier, object_crop
from spagan.evaluation.metrics.localisation import background_l1, nanmean
from spagan.evaluation.metrics.object_region import ObjectReferences, ObjectStats, object_stats
from spagan.evaluation.metrics.offline_distribution import FEATURE_SIZE, features, offline_mmd

ROWS = ("translation", "input_as_output", "counterpart_as_output")


@dataclass
class _Row:
    """What one row (the translations, or a reference) gathers, image by image."""

    stats: list[ObjectStats] = field(default_factory=list)
    crops: list[torch.Tensor] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    background: list[float] = field(default_factory=list)


@dataclass
class Yardstick:
    """Accumulates one direction's images; `result()` scores them.

    object_classifier: the object-crop domain classifier (None without training masks);
    whole_classifier: the whole-image one (None without trainA/ and trainB/); target: "A" or "B".
    """

    target: str
    object_classifier: DomainClassifier | None
    whole_classifier: DomainClassifier | None
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
        self.with_pair.append(pair is not None)
        for name, image in images.items():
            row = self.rows[name]
            row.features.append(features([image])[0])  # also what the whole-image classifier reads
            if mask is not None:
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

    def result(self, target_objects: list[ObjectStats], real_target_features: np.ndarray, *, subsets: int,
               subset_size: int, seed: int) -> dict[str, Any]:
        """The translation's measures (flat keys) and the reference rows under "references"."""
        objects = self._object_scores(target_objects)
        source = np.stack(self.rows["input_as_output"].features)
        rows: dict[str, dict[str, Any]] = {}
        for name in ROWS:
            row = self.rows[name]
            if name == "counterpart_as_output" and not (self.with_pair and all(self.with_pair)):
                continue  # a partial set of counterparts would be a different test set
            scores: dict[str, Any] = dict(objects.get(name, {}))
            scores.update(self._domain_scores(name))
            scores["offline_mmd_x100"] = offline_mmd(np.stack(row.features), real_target_features, source,
                                                     subsets=subsets, subset_size=subset_size, seed=seed)
            scores["background_l1"] = nanmean(row.background)
            rows[name] = scores
        main = rows.pop("translation")
        main["background_l1_generator"] = nanmean(self.generator_background)
        main["references"] = rows
        main["n_counterparts"] = int(sum(self.with_pair))
        return main
