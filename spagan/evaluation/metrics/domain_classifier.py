"""Translation success: a small scikit-learn classifier of domain A vs. B, applied to translations.

Trained on real training images of both domains; the share of A->B translations it calls
"B" measures whether the translation reached the target domain. Two scopes:

- whole image (`fit_folders`): works on any CycleGAN-layout data; saturates easily, since a
  half-striped object on a plain background is still mostly a domain-A image;
- object crop (`fit_object_folders`, where masks exist): the classifier sees only the object
  (:func:`object_crop`) through :func:`object_features` (the same features plus a contrast-free
  spectrum, so faded stripes still read as stripes), its probabilities are calibrated (Platt
  scaling, cross-validated), and the mean probability of the target is reported next to the
  share above 0.5.

Features are cheap and hand-made so the classifier needs no pretrained network: a 4x4 thumbnail (layout and
colour), per-channel colour histograms, gradient energy along x and y, and the energy of
the grey image's spectrum in radial frequency bands (stripes and texture).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from spagan.core.errors import SpaganError
from spagan.core.imageio import list_images, load_image
from spagan.evaluation.metrics.masks import find_mask, load_mask

log = logging.getLogger(__name__)

THUMB = 4  # thumbnail side: coarse layout and colour (finer pixels overfit object positions)
HIST_BINS = 8  # per channel, over [-1, 1]
FREQ_BANDS = 8  # radial bands of the grey spectrum
# floor of the grey spread (in [-1, 1] units): a flat object's shading noise is not amplified into texture
CONTRAST_FLOOR = 0.02


def image_features(images: torch.Tensor, size: int = 64) -> np.ndarray:
    """Hand-made features [N, F] of images [N, 3, H, W] in [-1, 1] (resized to size x size first)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [N, 3, H, W], got {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(-1, 1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    n = len(x)
    thumb = F.adaptive_avg_pool2d(x, THUMB).reshape(n, -1)
    # per-channel histograms over [-1, 1] in one pass (torch.histc's bins: the top edge in the last bin)
    bins = ((x + 1) * (HIST_BINS / 2)).long().clamp_(0, HIST_BINS - 1)
    hist = F.one_hot(bins.reshape(n, 3, -1), HIST_BINS).sum(2).reshape(n, -1).float() / (size * size)
    grey = x.mean(1)
    grad = torch.stack([(grey[:, :, 1:] - grey[:, :, :-1]).abs().mean((1, 2)),
                        (grey[:, 1:, :] - grey[:, :-1, :]).abs().mean((1, 2))], 1)
    bands = _spectrum_bands(grey - grey.mean((1, 2), keepdim=True))
    return torch.cat([thumb, hist, grad, bands], 1).double().numpy()


def _spectrum_bands(grey: torch.Tensor) -> torch.Tensor:
    """log(1 + energy) of [N, S, S] grey images' spectrum in FREQ_BANDS radial bands."""
    size = grey.shape[-1]
    power = torch.fft.fftshift(torch.fft.fft2(grey).abs() ** 2, dim=(-2, -1))
    yy, xx = torch.meshgrid(torch.arange(size) - size // 2, torch.arange(size) - size // 2, indexing="ij")
    radius = torch.sqrt((yy**2 + xx**2).float()) / (size / 2)
    band = (radius * FREQ_BANDS).long().clamp(max=FREQ_BANDS - 1)
    bands = torch.stack([power[:, band == b].sum(1) for b in range(FREQ_BANDS)], 1)
    return torch.log1p(bands / (size * size))


def object_features(crops: torch.Tensor, size: int = 32) -> np.ndarray:
    """:func:`image_features` of object crops plus their spectrum with the contrast divided out:
    faint stripes keep the shape of full stripes' spectrum, so fading them is not mistaken for
    removing them (the B->A ghost stripes a plain-object classifier would call A)."""
    x = crops.detach().float().cpu().clamp(-1, 1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    grey = x.mean(1)
    grey = (grey - grey.mean((1, 2), keepdim=True)) / (grey.std((1, 2), keepdim=True) + CONTRAST_FLOOR)
    return np.concatenate([image_features(x, size), _spectrum_bands(grey).double().numpy()], 1)


OBJECT_CROP = 32  # side of an object crop (the demo's objects are 20-40 px across at 64 px)


def object_crop(image: torch.Tensor, mask: torch.Tensor | np.ndarray, size: int = OBJECT_CROP) -> torch.Tensor:
    """The object of `image` ([3, H, W] in [-1, 1]) alone: the mask's bounding box, pixels outside
    the mask filled with the object's mean colour (no edge against a background, so what remains
    is the object's colour and texture), resized to size x size. The whole image when the mask is empty."""
    m = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
    if m.any():
        rows, cols = torch.where(m.any(1))[0], torch.where(m.any(0))[0]
        top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        mean = image[:, m].float().mean(1).view(-1, 1, 1)
        image = torch.where(m, image.float(), mean)[:, top:bottom, left:right]
    return F.interpolate(image[None].float(), size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)[0]


class DomainClassifier:
    """Logistic regression on :func:`image_features`; labels are the domain names ("A", "B")."""

    def __init__(self, pipeline: Pipeline | CalibratedClassifierCV, size: int, holdout_accuracy: float,
                 scope: str = "whole image") -> None:
        self.pipeline = pipeline
        self.featurize = object_features if scope == "object crop" else image_features
        self.size = size  # images are resized to this before featurising
        self.holdout_accuracy = holdout_accuracy  # on a seeded 25% split of the real images
        self.scope = scope  # what the classifier sees: "whole image" or "object crop"

    @classmethod
    def fit(
        cls, images_a: torch.Tensor, images_b: torch.Tensor, *, seed: int = 0, size: int = 64,
        calibrate: bool = False, scope: str = "whole image",
    ) -> DomainClassifier:
        """Train on real images of A and B; the hold-out accuracy is measured, then all data refit.
        calibrate: Platt-scale the probabilities with 3-fold cross-validation."""
        if len(images_a) < 2 or len(images_b) < 2:
            raise ValueError(f"need at least 2 images per domain, got {len(images_a)} and {len(images_b)}")
        featurize = object_features if scope == "object crop" else image_features
        feats = np.concatenate([featurize(images_a, size), featurize(images_b, size)])
        labels = np.array(["A"] * len(images_a) + ["B"] * len(images_b))

        def make() -> Pipeline | CalibratedClassifierCV:
            lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
            return CalibratedClassifierCV(lr, method="sigmoid", cv=3) if calibrate else lr

        if min(len(images_a), len(images_b)) >= 4:
            tr_x, te_x, tr_y, te_y = train_test_split(
                feats, labels, test_size=0.25, random_state=seed, stratify=labels
            )
            accuracy = float(make().fit(tr_x, tr_y).score(te_x, te_y))
        else:
            accuracy = float("nan")
        pipeline = make().fit(feats, labels)
        log.info("domain classifier (%s): %d A / %d B images, hold-out accuracy %.3f",
                 scope, len(images_a), len(images_b), accuracy)
        return cls(pipeline, size, accuracy, scope)

    @classmethod
    def fit_folders(
        cls, folder_a: Path, folder_b: Path, *, seed: int = 0, size: int = 64, max_images: int = 500,
        exclude: Collection[Path] = (),
    ) -> DomainClassifier:
        """Train on the images in two folders (e.g. trainA, trainB) but those in `exclude` (a slice
        held out for evaluation during training); at most `max_images` each, seeded pick."""
        rng = np.random.default_rng(seed)
        stacks = []
        skip = set(exclude)
        for folder in (folder_a, folder_b):
            paths = [p for p in list_images(folder) if p not in skip]
            if len(paths) < 2:
                raise SpaganError(f"{folder}: need at least 2 images to train the domain classifier")
            if len(paths) > max_images:
                paths = [paths[i] for i in sorted(rng.choice(len(paths), max_images, replace=False))]
            stacks.append(torch.stack([load_image(p, size) for p in paths]))
        return cls.fit(stacks[0], stacks[1], seed=seed, size=size)

    @classmethod
    def fit_object_folders(cls, data_dir: Path, *, seed: int = 0, max_images: int = 500,
                           exclude: Collection[Path] = ()) -> DomainClassifier:
        """Train on object crops of data_dir's trainA/ and trainB/ images that have a mask (found as
        evaluation finds them: spagan.evaluation.metrics.masks.find_mask), but those in `exclude`.
        Calibrated probabilities."""
        rng = np.random.default_rng(seed)
        stacks = []
        skip = set(exclude)
        for split in ("trainA", "trainB"):
            items = [(p, m) for p in list_images(data_dir / split)
                     if p not in skip and (m := find_mask(data_dir, split, p))]
            if len(items) < 4:
                raise SpaganError(f"{data_dir / split}: need masks for at least 4 images (in {split}_mask/ or "
                                  f"masks/{split}/) to train the object-crop domain classifier")
            if len(items) > max_images:
                items = [items[i] for i in sorted(rng.choice(len(items), max_images, replace=False))]
            crops = []
            for path, mask_path in items:
                image = load_image(path, None)
                crops.append(object_crop(image, load_mask(mask_path, tuple(image.shape[-2:]))))
            stacks.append(torch.stack(crops))
        return cls.fit(stacks[0], stacks[1], seed=seed, size=OBJECT_CROP, calibrate=True, scope="object crop")

    def probability(self, images: torch.Tensor, target: str) -> np.ndarray:
        """Probability of domain `target` ("A" or "B") per image [N, 3, H, W] in [-1, 1]."""
        classes = list(self.pipeline.classes_)
        return self.pipeline.predict_proba(self.featurize(images, self.size))[:, classes.index(target)]

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """Domain label ("A" or "B") per image [N, 3, H, W] in [-1, 1]."""
        return self.pipeline.predict(self.featurize(images, self.size))

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Domain label per row of :func:`image_features` already computed at this classifier's size."""
        return self.pipeline.predict(features)

    def share_classified_as(self, images: torch.Tensor, target: str) -> float:
        """Share of `images` classified as domain `target` ("A" or "B")."""
        if target not in ("A", "B"):
            raise ValueError(f"target must be 'A' or 'B', got {target!r}")
        if len(images) == 0:
            return float("nan")
        return float((self.predict(images) == target).mean())
