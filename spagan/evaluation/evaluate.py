"""Evaluate a checkpoint on a CycleGAN-layout data folder: KID, the offline yardstick, galleries.

`evaluate(eval_cfg, checkpoint, data_dir, out_dir)` writes

  out_dir/metrics.json        scores per direction, with the model hash, data version and settings
  out_dir/gallery/a2b.png     input | attention overlay | translation | reconstruction, one row per image
  out_dir/gallery/b2a.png

For each direction (a2b: testA translated, compared with real testB; b2a the reverse):
KID x 100 over Inception pool features (or a status saying why not, and the fix: never a
made-up number); where masks exist (``data_dir/testA_mask/``, as ``spagan prepare`` writes, or
``data_dir/masks/testA/``) the attention measures and the yardstick of spagan.evaluation.
yardstick: object translation (0 = input unchanged, 1 = the real counterpart), the object-crop
domain score, background change of the translation and of the generator's own output; the
whole-image domain share and the offline distribution score everywhere. Each yardstick
measure comes with its reference rows (input as output; counterpart as output on the demo).
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

from spagan.config import EvalConfig
from spagan.core.errors import SpaganError
from spagan.core.imageio import atomic_write_bytes, list_images, load_image_fitted, quantise_8bit
from spagan.evaluation.gallery import COLUMNS, write_gallery
from spagan.evaluation.masked_report import BLOCK as MASKED_BLOCK
from spagan.evaluation.metrics.features import (
    FeatureCache,
    InceptionFeatures,
    WeightsUnavailable,
    extract_features,
    file_sha256,
    load_inception,
)
from spagan.evaluation.metrics.inside_outside import MaskedScores
from spagan.evaluation.metrics.kid import kid_from_features, kid_sample
from spagan.evaluation.metrics.localisation import attention_auc, attention_in_mask, nanmean
from spagan.evaluation.metrics.masks import find_mask, find_pair, load_mask
from spagan.evaluation.metrics.object_region import ObjectStats, object_stats
from spagan.evaluation.metrics.offline_distribution import LABEL
from spagan.evaluation.metrics.offline_distribution import features as handmade_features
from spagan.evaluation.yardstick import Yardstick
from spagan.evaluation.report import METRICS_NAME
from spagan.evaluation.scorers import (
    DIRECTIONS,
    Scorers,
    domain_classifier,
    learned_classifier,
    object_classifier,
)
from spagan.evaluation.split_check import check_test_split
from spagan.inference.translator import Translator

log = logging.getLogger(__name__)


GALLERY_DIR = "gallery"


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


def _translate(translator: Translator, images: list[torch.Tensor], direction: str) -> list[tuple[Any, ...]]:
    """(attention, translation, reconstruction, generator output or None) per image, on the CPU;
    same-size images in one pass."""
    out: list[tuple[Any, ...]] = [()] * len(images)
    for idx in by_shape(images):
        res = translator.run(torch.stack([images[i] for i in idx]), direction)
        for j, i in enumerate(idx):
            gen = None if res.generated is None else res.generated[j].float().cpu()
            out[i] = (res.attention[j].float().cpu(), res.fake[j].float().cpu(), res.rec[j].float().cpu(), gen)
    return out


@dataclass
class _Tally:
    """Per-image results of one direction, gathered batch by batch."""

    yardstick: Yardstick
    in_mask: list[float] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)
    fake_features: list[np.ndarray] = field(default_factory=list)
    gallery: list[tuple[torch.Tensor, ...]] = field(default_factory=list)
    masked: MaskedScores = field(default_factory=MaskedScores)  # attention and change inside/outside the mask


def _score_image(tally: _Tally, data_dir: Path, src_name: str, path: Path, real: torch.Tensor,
                 out: tuple[Any, ...]) -> None:
    """The attention measures of one image (where it has a mask), and its yardstick entries."""
    attn, fake, _, generated = out
    shape = tuple(real.shape[-2:])
    mask_path, pair_path = find_mask(data_dir, src_name, path), find_pair(data_dir, src_name, path)
    mask = None if mask_path is None else load_mask(mask_path, shape)
    if mask is not None:
        tally.in_mask.append(attention_in_mask(attn[0], mask))
        tally.auc.append(attention_auc(attn[0], mask))
        tally.masked.add(attn[0], real, fake, mask)
    pair = None if pair_path is None else load_image_fitted(pair_path, max(shape))
    if pair is not None and tuple(pair.shape[-2:]) != shape:
        raise SpaganError(f"{pair_path}: counterpart is {pair.shape[-1]}x{pair.shape[-2]}, its image "
                          f"{path} {shape[1]}x{shape[0]}")
    tally.yardstick.add(real, fake, generated, mask, pair)


def _target_objects(data_dir: Path, tgt_name: str, size: int,
                    paths: list[Path] | None = None) -> tuple[list[ObjectStats], np.ndarray]:
    """Object statistics of the real target images (`paths`, default all of data_dir/tgt_name) with
    masks, and every target image's hand-made features (the offline distribution score's real side)."""
    objects, feats = [], []
    for path in list_images(data_dir / tgt_name) if paths is None else paths:
        image = load_image_fitted(path, size)
        feats.append(handmade_features([image])[0])
        mask_path = find_mask(data_dir, tgt_name, path)
        if mask_path is not None:
            stats = object_stats(image, load_mask(mask_path, tuple(image.shape[-2:])))
            if stats is not None:
                objects.append(stats)
    return objects, np.stack(feats) if feats else np.zeros((0, 0))


def _kid(fake_features: np.ndarray, real_features: np.ndarray, eval_cfg: EvalConfig, src_dir: Path,
         tgt_dir: Path) -> dict[str, Any]:
    """KID x 100 of translations against real target images with how it was sampled
    (:func:`kid_sample`), or why it was not computed."""
    if min(len(fake_features), len(real_features)) < 2:
        return {"status": "unavailable", "reason": f"fewer than 2 images in {src_dir} or {tgt_dir}",
                "fix": "add test images"}
    mean, std = kid_from_features(fake_features, real_features, eval_cfg.kid_subsets, eval_cfg.kid_subset_size,
                                  eval_cfg.seed)
    return {"mean": 100 * mean, "std": 100 * std,
            **kid_sample(len(fake_features), len(real_features), eval_cfg.kid_subsets, eval_cfg.kid_subset_size)}


def _folders(name: str, split: str) -> tuple[str, str, str, str]:
    """(source folder, target folder, source domain, target domain) of direction `name` in `split`."""
    src_dom, tgt_dom = DIRECTIONS[name][0][-1], DIRECTIONS[name][1][-1]
    return f"{split}{src_dom}", f"{split}{tgt_dom}", src_dom, tgt_dom


def target_references(data_dir: Path, name: str, size: int, *, split: str = "test",
                      files: dict[str, list[Path]] | None = None) -> tuple[list[ObjectStats], np.ndarray]:
    """What direction `name`'s translations are compared with: the real target objects and features
    (of <split>A/ or <split>B/; only `files[domain]` when given)."""
    _, tgt_name, _, tgt_dom = _folders(name, split)
    return _target_objects(data_dir, tgt_name, size, None if files is None else files[tgt_dom])


def direction_scores(name: str, translator: Translator, data_dir: Path, eval_cfg: EvalConfig, scorers: Scorers, *,
                     out_dir: Path | None = None, limit: int | None = None,
                     targets: tuple[list[ObjectStats], np.ndarray] | None = None, split: str = "test",
                     files: dict[str, list[Path]] | None = None) -> dict[str, Any]:
    """All metrics of one direction (and its gallery, under out_dir when given): translate the
    source images batch by batch (the first `limit`, sorted, when given), score each against
    its mask, keep the gallery rows, then KID and the classifiers' shares. `targets`: the
    direction's target_references, when the caller keeps them between calls. `split`: the
    folders scored ("test": testA/ testB/; evaluation during training: "train"); `files`: only
    these images of them, per domain ({"A": [...], "B": [...]}: sources and real targets)."""
    src_name, tgt_name, src_dom, tgt_dom = _folders(name, split)
    target = DIRECTIONS[name][2]
    src_dir, tgt_dir = data_dir / src_name, data_dir / tgt_name
    paths = list_images(src_dir)[:limit] if files is None else files[src_dom]
    if not paths:
        raise SpaganError(f"{src_dir}: no images to score")
    size, bs = translator.image_size, max(1, eval_cfg.batch_size)
    rng = np.random.default_rng([eval_cfg.seed, list(DIRECTIONS).index(name)])
    pick = ({int(i) for i in rng.choice(len(paths), min(eval_cfg.gallery_size, len(paths)), replace=False)}
            if out_dir is not None else set())

    tally = _Tally(Yardstick(target, scorers.object_classifier, scorers.classifier, scorers.learned))
    for start in range(0, len(paths), bs):
        batch = paths[start : start + bs]
        reals = [load_image_fitted(p, size) for p in batch]
        outs = _translate(translator, reals, name)
        fakes = [o[1] for o in outs]
        for i, (path, real, out) in enumerate(zip(batch, reals, outs)):
            _score_image(tally, data_dir, src_name, path, real, out)
            if start + i in pick:
                tally.gallery.append((real, *out[:3]))
        if scorers.extractor is not None:
            # Scored as the 8-bit PNG a saved translation is (as published KIDs are computed); keyed
            # by those bytes: an unchanged model on unchanged data hits the cache.
            saved = [quantise_8bit(f) for f in fakes]
            tally.fake_features.append(_features(scorers.extractor, saved, scorers.cache, None, bs))

    if tally.gallery:
        gallery_path = out_dir / GALLERY_DIR / f"{name}.png"
        write_gallery(gallery_path, *(list(t) for t in zip(*tally.gallery)))

    result: dict[str, Any] = {"source": src_name, "target": tgt_name, "n_images": len(paths)}
    if scorers.extractor is not None and scorers.cache is not None:
        real_paths = list_images(tgt_dir) if files is None else files[tgt_dom]
        real_features = _real_features(scorers.extractor, real_paths, size, scorers.cache, bs)
        result["kid_x100"] = _kid(np.concatenate(tally.fake_features), real_features, eval_cfg, src_dir, tgt_dir)
    else:
        result["kid_x100"] = dict(scorers.kid_status or {"status": "unavailable"})
    result["n_masks"] = len(tally.in_mask)
    result["attention_in_mask"] = nanmean(tally.in_mask)
    result["attention_auc"] = nanmean(tally.auc)
    if tally.masked.n_images:  # with its reference rows (spagan.evaluation.metrics.inside_outside)
        result[MASKED_BLOCK] = tally.masked.result()
    target_objects, target_features = targets or _target_objects(data_dir, tgt_name, size,
                                                                  None if files is None else files[tgt_dom])
    result.update(tally.yardstick.result(target_objects, target_features, subsets=eval_cfg.kid_subsets,
                                         subset_size=eval_cfg.kid_subset_size, seed=eval_cfg.seed,
                                         real_target_learned=(scorers.learned_targets or {}).get(name)))
    for key, flag in result["do_nothing"].items():
        if not flag["fails_do_nothing"]:
            log.warning("%s %s: a do-nothing model passes it (%s): not a quality measure here",
                        name, key, ", ".join(flag["passing"]))
    result["gallery"] = f"{GALLERY_DIR}/{name}.png" if tally.gallery else None
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
    post_hoc_blend: bool = False,
) -> dict[str, Any]:
    """Evaluate `checkpoint` on `data_dir` (testA/, testB/, trainA/, trainB/, optional masks/).

    Writes metrics.json and gallery PNGs into `out_dir` and returns the metrics dict.
    Inception features are cached under `cache_dir` (default out_dir/feature_cache), keyed by
    weights and image content (real: file sha256 + load size; translations: tensor bytes), so
    re-evaluating an unchanged model on unchanged data runs no Inception pass.
    post_hoc_blend: blend every translation with the source D's map as model.attention_blend
    does, on a model not trained so (a CycleGAN checkpoint included), to see the blend's share.
    """
    t0 = time.perf_counter()
    checkpoint, data_dir, out_dir = Path(checkpoint), Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise SpaganError(f"{data_dir}: data folder not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    translator = Translator.from_checkpoint(checkpoint, device=device, post_hoc_blend=post_hoc_blend)

    extractor, cache, kid_status = None, None, None
    try:
        extractor = load_inception(eval_cfg.inception_weights, eval_cfg.weights_dir, device=str(translator.device),
                                   download=eval_cfg.download_weights, url=eval_cfg.weights_url)
        cache = FeatureCache(Path(cache_dir) if cache_dir else out_dir / "feature_cache", extractor.cache_namespace)
    except WeightsUnavailable as exc:
        log.warning("KID not computed: %s", exc)
        kid_status = {"status": "unavailable", "reason": exc.reason, "fix": exc.fix}

    classifier, clf_info = domain_classifier(data_dir, eval_cfg.seed)
    object_clf, object_clf_info = object_classifier(data_dir, eval_cfg.seed)
    learned, learned_targets, learned_info = learned_classifier(
        data_dir, eval_cfg, translator.image_size, Path(cache_dir) if cache_dir else out_dir / "feature_cache")

    metrics: dict[str, Any] = {
        "checkpoint": {"path": str(checkpoint), "sha256": translator.checkpoint_sha256},
        "data": {"dir": str(data_dir), "data_version": _data_version(data_dir),
                 "test_split": check_test_split(data_dir)},  # warns when it is not the source's
        "settings": {
            "image_size": translator.image_size,
            "load": LOAD_RULE,
            "kid": {"subsets": eval_cfg.kid_subsets, "subset_size": eval_cfg.kid_subset_size,
                    "seed": eval_cfg.seed, "scale": 100, "kernel": "(a.b/d + 1)^3, unbiased MMD^2",
                    "translations": "quantised to 8 bit as a saved PNG (round((x + 1) x 127.5)) before Inception",
                    "real_images": "decoded from their files (" + LOAD_RULE + ")",
                    "subset_size_rule": "clipped to the smaller set (as clean-fid); each KID records the size used"},
            "features": extractor.identity if extractor is not None else kid_status,
            "domain_classifier": clf_info,
            "object_domain_classifier": object_clf_info,
            "learned_domain_classifier": learned_info,
            "do_nothing_rule": ("a measure is quality only where every do-nothing row (input_as_output, "
                                "constant_grey, constant_mean) scores strictly worse than the translation and, for "
                                "a share or probability of the target, below 0.5: see each direction's do_nothing"),
            "post_hoc_blend": post_hoc_blend,
            "translation_blended": translator.blends,
            "object_translation": ("min over colour and structure of 1 - d(translation)/d(input), d = distance "
                                   "of the object's statistics to the nearest real target object (counterparts "
                                   "and target test objects): 0 = input unchanged, 1 = the counterpart"),
            "offline_distribution": LABEL,
            "gallery": {"size": eval_cfg.gallery_size, "columns": list(COLUMNS)},
            "background_l1_scale": "mean |input - translation| outside the mask, on [0, 1] (background_l1_generator:"
                                   " the generator's own output before any blend)",
        },
    }
    scorers = Scorers(classifier, object_clf, extractor, cache, kid_status, learned, learned_targets)
    for name in DIRECTIONS:
        metrics[name] = direction_scores(name, translator, data_dir, eval_cfg, scorers, out_dir=out_dir)
    metrics["run"] = {
        "seconds": round(time.perf_counter() - t0, 3),
        "device": str(translator.device),
        "feature_cache": None if cache is None else {"dir": str(cache.folder), "hits": cache.hits,
                                                     "misses": cache.misses},
    }
    atomic_write_bytes(out_dir / METRICS_NAME, (json.dumps(metrics, indent=2, allow_nan=False) + "\n").encode())
    log.info("evaluation written to %s", out_dir / METRICS_NAME)
    return metrics
