"""The evaluation callback of a training run (`spagan train` hands it to the loop, which calls it
every train.eval_every epochs: see spagan/training/selection.py).

It scores the networks as they are, with the offline measures of `spagan evaluate` (the same
code: spagan.evaluation.evaluate.direction_scores), and KID where the Inception weights are
already on disk (it never downloads during training), on a slice of the TRAINING split chosen by
train.eval_split (spagan.training.holdout): by default the last train.eval_images images of
trainA/ and trainB/, which the run does not train on. It never reads testA/ or testB/: a model
selected on the test split would then report its score on that same split. Translations of one
domain's slice are compared with the other domain's slice (objects, features, KID). What does
not change during a run (the domain classifiers, fitted on the training images but the slice;
the slice's real target objects and features) is computed once, when the callback is built;
each call reads the slice's images and masks again (16 small files per direction: cheaper than
holding them) and copies the training weights into its own networks, so the training networks
are never touched (nor their train/eval mode).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from spagan.config import Config
from spagan.config.rules import WATCHED_MEASURES
from spagan.core.layout import DIRECTIONS
from spagan.evaluation.evaluate import direction_scores, target_references
from spagan.evaluation.scorers import Scorers, domain_classifier, learned_classifier, object_classifier
from spagan.evaluation.metrics.features import FeatureCache, WeightsUnavailable, load_inception
from spagan.evaluation.metrics.masks import find_mask
from spagan.inference.translator import Translator
from spagan.models import Networks, build_networks
from spagan.training.dataset import domain_files
from spagan.training.holdout import eval_slice

log = logging.getLogger(__name__)


class TrainingEvaluator:
    """Callable(networks, step) -> {measure: mean over both directions, "a2b_<measure>": ..., ...}
    for every measure in spagan.config.rules.WATCHED_MEASURES (None where unavailable)."""

    def __init__(self, cfg: Config, data_dir: str | Path, *, device: str = "auto", cache_dir: str | Path | None = None):
        started = time.perf_counter()
        self.cfg, self.data_dir = cfg, Path(data_dir)
        t = cfg.train
        self.slice = eval_slice(*domain_files(self.data_dir, "train"), t.eval_split, t.eval_images)
        self.files = {"A": self.slice.eval_a, "B": self.slice.eval_b}
        held = list(self.slice.eval_a + self.slice.eval_b) if self.slice.held_out else []
        self.translator = Translator(cfg, build_networks(cfg.model).state_dicts(), device)
        size = self.translator.image_size
        learned, learned_targets = None, None
        if cfg.train.select_by == "learned_domain_probability":  # its CNN is trained (or loaded) only then
            learned, learned_targets, _ = learned_classifier(
                self.data_dir, cfg.eval, size, Path(cache_dir) if cache_dir else None)
        self.scorers = Scorers(domain_classifier(self.data_dir, cfg.eval.seed, exclude=held)[0],
                               object_classifier(self.data_dir, cfg.eval.seed, exclude=held)[0],
                               *self._kid_parts(cache_dir), learned, learned_targets)
        self.targets = {d: target_references(self.data_dir, d, size, split="train", files=self.files)
                        for d in DIRECTIONS}
        self._warn_if_unscorable()
        log.info("evaluation during training: %s, every %d epochs (set up in %.1f s; KID %s)", self.describe(),
                 t.eval_every, time.perf_counter() - started,
                 "on" if self.scorers.extractor is not None else "off: no Inception weights on disk")

    def describe(self) -> str:
        """Which images are scored, in words."""
        n = len(self.slice.eval_a)
        if self.slice.held_out:
            return f"the last {n} images of trainA/ and trainB/ (sorted), held out of training"
        return f"the first {n} images of trainA/ and trainB/ (sorted), trained on (train.eval_split=train)"

    def record(self) -> dict[str, Any]:
        """The scored slice as spagan.training.holdout records it (split, file names, their sha256)."""
        return self.slice.record(self.data_dir)

    def _warn_if_unscorable(self) -> None:
        """Say now, not at the end of the run, when train.select_by cannot be scored on this data."""
        measure = self.cfg.train.select_by
        if measure == "kid_x100" and self.scorers.extractor is None:
            why = "no Inception weights on disk (they are never downloaded during training)"
        elif measure == "learned_domain_probability" and self.scorers.learned is None:
            why = "no learned classifier (eval.learned_classifier is false, or no trainA/ and trainB/)"
        elif measure == "object_domain_probability" and self.scorers.object_classifier is None:
            why = f"no object masks in {self.data_dir}/trainA_mask, trainB_mask for the object classifier"
        elif measure in ("object_translation", "object_domain_probability") and not any(
                find_mask(self.data_dir, f"train{d}", p) for d in "AB" for p in self.files[d]):
            why = f"no object masks for the scored training slice ({self.data_dir}/trainA_mask, trainB_mask)"
        else:
            return
        log.warning("train.select_by=%s cannot be scored: %s; no best checkpoint will be kept (train.publish=best "
                    "then publishes the last). Masks come with the demo; for your own images select "
                    "kid_x100 with Inception weights on disk, or watch the curve without selecting.", measure, why)

    def _kid_parts(self, cache_dir: str | Path | None) -> tuple[Any, Any, dict[str, str] | None]:
        e = self.cfg.eval
        try:
            extractor = load_inception(e.inception_weights, e.weights_dir, device=str(self.translator.device),
                                       download=False, url=e.weights_url)
        except WeightsUnavailable as exc:
            return None, None, {"status": "unavailable", "reason": exc.reason, "fix": exc.fix}
        # Real images' features are computed once and kept; by default beside the run, never in the data.
        folder = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="spagan-eval-features-"))
        return extractor, FeatureCache(folder, extractor.cache_namespace), None

    def __call__(self, nets: Networks, step: int) -> dict[str, float | None]:
        """The scores of `nets` (their current weights) at training step `step`."""
        own = self.translator.nets.by_name()
        for name, module in nets.by_name().items():
            own[name].load_state_dict(module.state_dict())  # copies onto the translator's device
        per_direction = {d: direction_scores(d, self.translator, self.data_dir, self.cfg.eval, self.scorers,
                                             targets=self.targets[d], split="train", files=self.files)
                         for d in DIRECTIONS}
        return flat_scores(per_direction)


def flat_scores(per_direction: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """{measure, a2b_measure, b2a_measure} for every watched measure of direction_scores' results
    (KID's mean where it was computed); the mean is None unless both directions have the measure."""
    out: dict[str, float | None] = {}
    for measure in WATCHED_MEASURES:
        values = []
        for d, result in per_direction.items():
            value = result.get(measure)
            if isinstance(value, dict):  # kid_x100: {"mean", "std", ...} or {"status": "unavailable", ...}
                value = value.get("mean")
            value = None if value is None or not np.isfinite(value) else float(value)
            out[f"{d}_{measure}"] = value
            values.append(value)
        out[measure] = None if None in values else float(np.mean(values))
    return out
