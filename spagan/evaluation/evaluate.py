"""Evaluate a checkpoint on a CycleGAN-layout data folder: KID, localisation, success, galleries.

`evaluate(eval_cfg, checkpoint, data_dir, out_dir)` writes

  out_dir/metrics.json        scores per direction, with the model hash, data version and settings
  out_dir/gallery/a2b.png     input | attention overlay | translation | reconstruction, one row per image
  out_dir/gallery/b2a.png

For each direction (a2b: testA translated, compared with real testB; b2a the reverse):
KID x 100 over Inception pool features (or a status saying why not, and the fix: never a
made-up number), the attention/background metrics where a mask of the same file name exists
(``data_dir/testA_mask/``, as ``spagan prepare`` writes, or ``data_dir/masks/testA/``), and the
share of translations a domain classifier trained on trainA/trainB calls the target domain.
The DVC stage, the Dagster assets and ``spagan evaluate`` all call this function.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from spagan.config import EvalConfig
from spagan.core.errors import SpaganError
from spagan.core.imageio import atomic_write_bytes, list_images, load_image_fitted
from spagan.evaluation.gallery import COLUMNS, write_gallery
from spagan.evaluation.metrics.domain_classifier import DomainClassifier
from spagan.evaluation.metrics.features import (
    FeatureCache,
    InceptionFeatures,
    WeightsUnavailable,
    extract_features,
    file_sha256,
    load_inception,
)
from spagan.evaluation.metrics.kid import kid_from_features
from spagan.evaluation.metrics.localisation import attention_auc, attention_in_mask, background_l1, nanmean
from spagan.evaluation.report import METRICS_NAME
from spagan.inference.translator import Translator

log = logging.getLogger(__name__)


GALLERY_DIR = "gallery"
# direction -> (source test folder, target test folder, target domain label)
DIRECTIONS = {"a2b": ("testA", "testB", "B"), "b2a": ("testB", "testA", "A")}


def find_mask(data_dir: Path, split: str, image: Path) -> Path | None:
    """The mask of `image` (in data_dir/<split>/): same relative path, or same stem as .png, under
    ``data_dir/<split>_mask/`` (the prepared layout) or ``data_dir/masks/<split>/``."""
    rel = image.relative_to(data_dir / split)
    for root in (data_dir / f"{split}_mask", data_dir / "masks" / split):
        for candidate in (root / rel, (root / rel).with_suffix(".png")):
            if candidate.is_file():
                return candidate
    return None


def load_mask(path: Path, shape: int | tuple[int, int]) -> np.ndarray:
    """Binary object mask of `shape` (height, width; an int is square; pixels > 127 are object),
    nearest-neighbour resized."""
    height, width = (shape, shape) if isinstance(shape, int) else shape
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (width, height):
                im = im.resize((width, height), Image.NEAREST)
            return np.asarray(im) > 127
    except OSError as exc:
        raise SpaganError(f"{path}: cannot read mask ({exc})") from None


# Test images of any size are scaled so their longer side is the training size (aspect kept,
# bicubic) and translated as they are (padded to a multiple of 4 inside Translator.run);
# Inception then resizes every image, real or translated, to 299 x 299 (RESIZE_RULE).
LOAD_RULE = "longer side scaled to train.image_size (bicubic), aspect kept"


def by_shape(images: list[torch.Tensor]) -> list[list[int]]:
    """Indices of `images` grouped by tensor shape (order of first appearance): one batch each."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(i)
    return list(groups.values())


def _features(extractor: InceptionFeatures, images: list[torch.Tensor], cache: FeatureCache | None,
              keys: list[str] | None, batch_size: int) -> np.ndarray:
    """Inception features [N, 2048] of images of possibly different sizes, in their order."""
    out = np.zeros((len(images), 2048))
    for idx in by_shape(images):
        batch = torch.stack([images[i] for i in idx])
        out[idx] = extract_features(extractor, batch, keys=None if keys is None else [keys[i] for i in idx],
                                    cache=cache, batch_size=batch_size)
    return out


def _real_features(
    extractor: InceptionFeatures, paths: list[Path], size: int, cache: FeatureCache, batch_size: int
) -> np.ndarray:
    """Features of real images, keyed in the cache by file content and load rule."""
    chunks = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        keys = [f"{file_sha256(p)}-fit{size}" for p in batch]
        if all(cache.has(k) for k in keys):  # nothing to compute: skip decoding the images
            images = [torch.zeros(3, 1, 1) for _ in batch]
        else:
            images = [load_image_fitted(p, size) for p in batch]
        chunks.append(_features(extractor, images, cache, keys, batch_size))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2048))


def _translate(translator: Translator, images: list[torch.Tensor], direction: str) -> list[tuple[torch.Tensor, ...]]:
    """(attention, translation, reconstruction) per image, on the CPU; same-size images in one pass."""
    out: list[tuple[torch.Tensor, ...]] = [()] * len(images)
    for idx in by_shape(images):
        res = translator.run(torch.stack([images[i] for i in idx]), direction)
        for j, i in enumerate(idx):
            out[i] = (res.attention[j].float().cpu(), res.fake[j].float().cpu(), res.rec[j].float().cpu())
    return out


@dataclass(frozen=True)
class Scorers:
    """What scores the translations besides the masks; None where unavailable (KID: kid_status says why)."""

    classifier: DomainClassifier | None
    extractor: InceptionFeatures | None
    cache: FeatureCache | None
    kid_status: dict[str, str] | None


@dataclass
class _Tally:
    """Per-image results of one direction, gathered batch by batch."""

    in_mask: list[float] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)
    background: list[float] = field(default_factory=list)
    fake_features: list[np.ndarray] = field(default_factory=list)
    predicted: list[np.ndarray] = field(default_factory=list)
    gallery: list[tuple[torch.Tensor, ...]] = field(default_factory=list)


def _score_masks(tally: _Tally, data_dir: Path, src_name: str, path: Path, real: torch.Tensor,
                 attn: torch.Tensor, fake: torch.Tensor) -> None:
    """Attention in mask, attention ROC AUC and background L1 of one image, where it has a mask."""
    mask_path = find_mask(data_dir, src_name, path)
    if mask_path is not None:
        mask = load_mask(mask_path, tuple(real.shape[-2:]))
        tally.in_mask.append(attention_in_mask(attn[0], mask))
        tally.auc.append(attention_auc(attn[0], mask))
        tally.background.append(background_l1(real, fake, mask))


def _classify(classifier: DomainClassifier, fakes: list[torch.Tensor]) -> np.ndarray:
    """The domain the classifier gives each translation (same-size images in one pass)."""
    labels = np.empty(len(fakes), dtype=object)
    for idx in by_shape(fakes):
        labels[idx] = classifier.predict(torch.stack([fakes[i] for i in idx]))
    return labels


def _kid(fake_features: np.ndarray, real_features: np.ndarray, eval_cfg: EvalConfig, src_dir: Path,
         tgt_dir: Path) -> dict[str, Any]:
    """KID x 100 of translations against real target images, or why it was not computed."""
    if min(len(fake_features), len(real_features)) < 2:
        return {"status": "unavailable", "reason": f"fewer than 2 images in {src_dir} or {tgt_dir}",
                "fix": "add test images"}
    mean, std = kid_from_features(fake_features, real_features, eval_cfg.kid_subsets, eval_cfg.kid_subset_size,
                                  eval_cfg.seed)
    return {"mean": 100 * mean, "std": 100 * std,
            "subset_size": min(eval_cfg.kid_subset_size, len(fake_features), len(real_features)),
            "n_real": len(real_features)}


def _direction(name: str, translator: Translator, data_dir: Path, out_dir: Path, eval_cfg: EvalConfig,
               scorers: Scorers) -> dict[str, Any]:
    """All metrics and the gallery for one direction: translate the source test images batch by
    batch, score each against its mask, keep the gallery rows, then KID and the classifier's share."""
    src_name, tgt_name, target = DIRECTIONS[name]
    src_dir, tgt_dir = data_dir / src_name, data_dir / tgt_name
    paths = list_images(src_dir)
    if not paths:
        raise SpaganError(f"{src_dir}: no test images")
    size, bs = translator.image_size, max(1, eval_cfg.batch_size)
    rng = np.random.default_rng([eval_cfg.seed, list(DIRECTIONS).index(name)])
    pick = {int(i) for i in rng.choice(len(paths), min(eval_cfg.gallery_size, len(paths)), replace=False)}

    tally = _Tally()
    for start in range(0, len(paths), bs):
        batch = paths[start : start + bs]
        reals = [load_image_fitted(p, size) for p in batch]
        outs = _translate(translator, reals, name)
        fakes = [fake for _, fake, _ in outs]
        for i, (path, real, (attn, fake, rec)) in enumerate(zip(batch, reals, outs)):
            _score_masks(tally, data_dir, src_name, path, real, attn, fake)
            if start + i in pick:
                tally.gallery.append((real, attn, fake, rec))
        if scorers.extractor is not None:
            # keyed by the translation's bytes: an unchanged model on unchanged data hits the cache
            tally.fake_features.append(_features(scorers.extractor, fakes, scorers.cache, None, bs))
        if scorers.classifier is not None:
            tally.predicted.append(_classify(scorers.classifier, fakes))

    gallery_path = out_dir / GALLERY_DIR / f"{name}.png"
    if tally.gallery:
        write_gallery(gallery_path, *(list(t) for t in zip(*tally.gallery)))

    result: dict[str, Any] = {"source": src_name, "target": tgt_name, "n_images": len(paths)}
    if scorers.extractor is not None and scorers.cache is not None:
        real_features = _real_features(scorers.extractor, list_images(tgt_dir), size, scorers.cache, bs)
        result["kid_x100"] = _kid(np.concatenate(tally.fake_features), real_features, eval_cfg, src_dir, tgt_dir)
    else:
        result["kid_x100"] = dict(scorers.kid_status or {"status": "unavailable"})
    result["n_masks"] = len(tally.in_mask)
    result["attention_in_mask"] = nanmean(tally.in_mask)
    result["attention_auc"] = nanmean(tally.auc)
    result["background_l1"] = nanmean(tally.background)
    result["success_share"] = (
        float((np.concatenate(tally.predicted) == target).mean()) if scorers.classifier is not None else None
    )
    result["gallery"] = str(gallery_path.relative_to(out_dir)) if tally.gallery else None
    result["gallery_files"] = [paths[i].relative_to(src_dir).as_posix() for i in sorted(pick)]
    return result


def _data_version(data_dir: Path) -> str | None:
    """``data_version`` from summary.json in data_dir or its parent (``spagan prepare`` puts it beside prepared/)."""
    summary = next((p for p in (data_dir / "summary.json", data_dir.parent / "summary.json") if p.is_file()), None)
    if summary is None:
        return None
    try:
        return json.loads(summary.read_text(encoding="utf-8")).get("data_version")
    except (OSError, ValueError, AttributeError):
        log.warning("%s: unreadable; data version not recorded", summary)
        return None


def evaluate(
    eval_cfg: EvalConfig,
    checkpoint: Path,
    data_dir: Path,
    out_dir: Path,
    *,
    device: str = "auto",
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate `checkpoint` on `data_dir` (testA/, testB/, trainA/, trainB/, optional masks/).

    Writes metrics.json and gallery PNGs into `out_dir` and returns the metrics dict.
    Inception features are cached under `cache_dir` (default out_dir/feature_cache), keyed by
    weights and image content (real: file sha256 + load size; translations: tensor bytes), so
    re-evaluating an unchanged model on unchanged data runs no Inception pass.
    """
    t0 = time.perf_counter()
    checkpoint, data_dir, out_dir = Path(checkpoint), Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise SpaganError(f"{data_dir}: data folder not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    translator = Translator.from_checkpoint(checkpoint, device=device)

    extractor, cache, kid_status = None, None, None
    try:
        extractor = load_inception(eval_cfg.inception_weights, eval_cfg.weights_dir, device=str(translator.device),
                                   download=eval_cfg.download_weights, url=eval_cfg.weights_url)
        cache = FeatureCache(Path(cache_dir) if cache_dir else out_dir / "feature_cache", extractor.cache_namespace)
    except WeightsUnavailable as exc:
        log.warning("KID not computed: %s", exc)
        kid_status = {"status": "unavailable", "reason": exc.reason, "fix": exc.fix}

    classifier, clf_info = None, {"status": "unavailable"}
    if (data_dir / "trainA").is_dir() and (data_dir / "trainB").is_dir():
        classifier = DomainClassifier.fit_folders(data_dir / "trainA", data_dir / "trainB", seed=eval_cfg.seed)
        clf_info = {"model": "logistic regression on thumbnail, colour histogram, gradient and spectrum features",
                    "trained_on": "trainA vs trainB", "holdout_accuracy": nanmean([classifier.holdout_accuracy])}
    else:
        clf_info["reason"] = f"{data_dir} has no trainA/ and trainB/ to train the domain classifier on"

    metrics: dict[str, Any] = {
        "checkpoint": {"path": str(checkpoint), "sha256": translator.checkpoint_sha256},
        "data": {"dir": str(data_dir), "data_version": _data_version(data_dir)},
        "settings": {
            "image_size": translator.image_size,
            "load": LOAD_RULE,
            "kid": {"subsets": eval_cfg.kid_subsets, "subset_size": eval_cfg.kid_subset_size,
                    "seed": eval_cfg.seed, "scale": 100, "kernel": "(a.b/d + 1)^3, unbiased MMD^2"},
            "features": extractor.identity if extractor is not None else kid_status,
            "domain_classifier": clf_info,
            "gallery": {"size": eval_cfg.gallery_size, "columns": list(COLUMNS)},
            "background_l1_scale": "mean |input - translation| outside the mask, on [0, 1]",
        },
    }
    scorers = Scorers(classifier, extractor, cache, kid_status)
    for name in DIRECTIONS:
        metrics[name] = _direction(name, translator, data_dir, out_dir, eval_cfg, scorers)
    metrics["run"] = {
        "seconds": round(time.perf_counter() - t0, 3),
        "device": str(translator.device),
        "feature_cache": None if cache is None else {"dir": str(cache.folder), "hits": cache.hits,
                                                     "misses": cache.misses},
    }
    atomic_write_bytes(out_dir / METRICS_NAME, (json.dumps(metrics, indent=2, allow_nan=False) + "\n").encode())
    log.info("evaluation written to %s", out_dir / METRICS_NAME)
    return metrics
