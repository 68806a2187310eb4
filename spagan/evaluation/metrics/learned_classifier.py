"""A domain classifier learned from the training split only, for real photos without masks or Inception.

A small CNN trained from scratch on trainA vs trainB (never the test split), at a fixed input
size (images resized), with random shifts and flips, balanced classes and fixed seeds. It has a
third class, "neither", of images made from the training photos with their content destroyed (a
flat colour, the photo's mean colour, the photo blurred to 4 x 4): a two-class net learns
"zebra or not", and called a mid-grey image a horse with P = 0.87 on horse2zebra (measured), so
a generator that outputs a constant passed the zebra -> horse direction. With the third class a
photo of the target needs the target's evidence, not merely the absence of the source's. It
gives two of the real-photo yardstick's measures (spagan.evaluation.real_yardstick):

- P(target): its probability that a translation belongs to the target domain, calibrated by a
  temperature fitted on a held-out slice of the training split (so 0.8 means "right 8 times in
  10" on real training-domain photos); the share above 0.5 is the translation success the
  papers in this family report;
- a feature space: the penultimate layer (global average pool), standardised by its mean and
  spread over the training images, in which KID's estimator gives ``learned_mmd_x100``: an MMD
  in a feature space trained on this data set's training split, not KID and not comparable
  across data sets.

Training costs seconds to a few minutes on a CPU, so it is cached (:func:`load_or_train`) by the
content of the training files and the settings: an evaluation of another model on the same data
loads it. Weights are written atomically and read back with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_bytes
from spagan.core.imageio import list_images, load_image
from spagan.evaluation.metrics.features import file_sha256

log = logging.getLogger(__name__)

# Bumped whenever the network, the training or the cached file's layout changes: old caches miss.
CACHE_VERSION = 2
CLASSES = ("A", "B", "neither")
CACHE_SUBDIR = "domain_net"
LABEL = ("MMD x100 in a feature space trained on this data set's training split (penultimate layer of the "
         "learned domain classifier): not KID, not comparable across data sets")


@dataclass(frozen=True)
class DomainNetSettings:
    """How the learned classifier is trained; every field is part of the cache key."""

    size: int = 64  # px: every image (training, test, translation) is resized to size x size
    width: int = 16  # channels of the first convolution (doubled at each of the 4 stride-2 layers)
    epochs: int = 8
    batch_size: int = 32
    lr: float = 0.002
    weight_decay: float = 0.0005
    shift: int = 4  # px of random shift (reflect padding, then a random crop), plus horizontal flips
    calibration_share: float = 0.1  # of each training folder, held out to fit the temperature
    max_images: int = 0  # per training folder, a seeded pick (0: all)
    seed: int = 0


class DomainNet(nn.Module):
    """Four stride-2 convolutions (size -> size/16), global average pool (the embedding), logits of CLASSES."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(4):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, len(CLASSES))
        self.embed_dim = c_in

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, embed_dim] of images [N, 3, S, S] in [-1, 1]."""
        return self.body(x).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, len(CLASSES)]."""
        return self.head(self.embed(x))


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images [N, 3, H, W] (any H, W) -> [N, 3, size, size] in [-1, 1] (bilinear, antialiased)."""
    x = images.detach().float().cpu().clamp(-1, 1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [N, C] logits."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE of class probabilities [N, C] against labels [N] (class indices): the mean over equal-width
    bins of the top probability of |accuracy - confidence|, weighted by bin size."""
    probs, labels = np.asarray(probs, float), np.asarray(labels, int)
    if len(probs) == 0:
        return float("nan")
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    idx = np.minimum(conf * bins, bins - 1).astype(int)
    return float(sum(abs(correct[idx == b].mean() - conf[idx == b].mean()) * (idx == b).mean()
                     for b in range(bins) if (idx == b).any()))


class LearnedDomainClassifier:
    """The trained DomainNet, its temperature and its embedding's standardisation, with what it was trained on."""

    def __init__(self, net: DomainNet, settings: DomainNetSettings, temperature: float, embed_mean: np.ndarray,
                 embed_std: np.ndarray, info: dict[str, Any]) -> None:
        self.net = net.eval()
        self.settings = settings
        self.temperature = temperature
        self.embed_mean, self.embed_std = embed_mean, embed_std
        self.info = info  # training counts, calibration, seconds: shown in metrics.json's settings

    @torch.inference_mode()
    def _run(self, images: torch.Tensor, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        logits, feats = [], []
        for start in range(0, len(images), batch):
            x = resize(images[start : start + batch], self.settings.size)
            e = self.net.embed(x)
            feats.append(e.double().numpy())
            logits.append(self.net.head(e).double().numpy())
        if not logits:
            return np.zeros((0, len(CLASSES))), np.zeros((0, self.net.embed_dim))
        return np.concatenate(logits), np.concatenate(feats)

    def probabilities_and_features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated class probabilities [N, len(CLASSES)] and standardised embeddings [N, D] of
        images [N, 3, H, W] in [-1, 1] (any size: resized)."""
        logits, feats = self._run(images)
        return softmax(logits / self.temperature), (feats - self.embed_mean) / self.embed_std

    def probability(self, images: torch.Tensor, target: str) -> np.ndarray:
        """Calibrated P(target) per image, target "A" or "B"."""
        if target not in ("A", "B"):
            raise ValueError(f"target must be 'A' or 'B', got {target!r}")
        return self.probabilities_and_features(images)[0][:, CLASSES.index(target)]

    def sanity(self, images_a: torch.Tensor, images_b: torch.Tensor) -> dict[str, Any]:
        """Accuracy (the top class is the right domain) and calibration error on real images the
        classifier never saw (e.g. testA vs testB)."""
        probs = np.concatenate([self.probabilities_and_features(images_a)[0],
                                self.probabilities_and_features(images_b)[0]])
        labels = np.array([0] * len(images_a) + [1] * len(images_b))
        top = probs.argmax(1)
        return {"accuracy": float((top == labels).mean()) if len(labels) else float("nan"),
                "ece": expected_calibration_error(probs, labels),
                "accuracy_A": float((top[labels == 0] == 0).mean()) if len(images_a) else float("nan"),
                "accuracy_B": float((top[labels == 1] == 1).mean()) if len(images_b) else float("nan"),
                "called_neither": float((top == 2).mean()) if len(labels) else float("nan"),
                "n_A": len(images_a), "n_B": len(images_b)}


def _pick(paths: list[Path], settings: DomainNetSettings, folder: Path) -> list[Path]:
    if len(paths) < 4:
        raise SpaganError(f"{folder}: need at least 4 images to train the learned domain classifier")
    if settings.max_images and len(paths) > settings.max_images:
        rng = np.random.default_rng(settings.seed)
        paths = [paths[i] for i in sorted(rng.choice(len(paths), settings.max_images, replace=False))]
    return paths


def training_files(folder_a: Path, folder_b: Path, settings: DomainNetSettings) -> tuple[list[Path], list[Path]]:
    """The training images the classifier reads from each folder (all, or the seeded pick of max_images)."""
    return (_pick(list_images(folder_a), settings, folder_a), _pick(list_images(folder_b), settings, folder_b))


def cache_key(files_a: list[Path], files_b: list[Path], settings: DomainNetSettings) -> str:
    """A digest of the training files' contents (per domain, in order) and the settings."""
    h = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "settings": asdict(settings)}, sort_keys=True).encode())
    for label, files in (("A", files_a), ("B", files_b)):
        for p in files:
            h.update(f"{label}:{file_sha256(p)}\n".encode())
    return h.hexdigest()[:24]


def _augment(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random shifts (reflect padding + crop) and horizontal flips, drawn from `gen`."""
    n, _, s, _ = x.shape
    if shift:
        padded = F.pad(x, (shift,) * 4, mode="reflect")
        offs = torch.randint(0, 2 * shift + 1, (n, 2), generator=gen)
        x = torch.stack([padded[i, :, oy : oy + s, ox : ox + s] for i, (oy, ox) in enumerate(offs.tolist())])
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def destroyed(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The "neither" class: each image [N, 3, S, S] with its content destroyed, one of three ways
    drawn from `gen`: a random flat colour, its own mean colour, or itself blurred to 4 x 4."""
    n, _, s, _ = x.shape
    kind = torch.randint(0, 3, (n, 1, 1, 1), generator=gen)
    flat = (torch.rand(n, 3, 1, 1, generator=gen) * 2 - 1).expand_as(x)
    mean = x.mean((2, 3), keepdim=True).expand_as(x)
    blur = F.interpolate(F.adaptive_avg_pool2d(x, 4), size=(s, s), mode="bilinear", align_corners=False)
    return torch.where(kind == 0, flat, torch.where(kind == 1, mean, blur))


def _fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (a grid)."""
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.05), math.log(20.0), 241)):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(z)), labels]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def train(images_a: torch.Tensor, images_b: torch.Tensor, settings: DomainNetSettings) -> LearnedDomainClassifier:
    """Train on real images of A [Na, 3, S, S] and B (already at settings.size); a seeded
    calibration_share of each is held out to fit the temperature. Deterministic for given inputs."""
    t0 = time.perf_counter()
    torch.manual_seed(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)

    def split(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n_cal = max(1, int(round(len(images) * settings.calibration_share)))
        order = rng.permutation(len(images))
        return images[order[n_cal:]], images[order[:n_cal]]

    train_a, cal_a = split(images_a)
    train_b, cal_b = split(images_b)
    x = torch.cat([train_a, train_b])
    y = torch.cat([torch.zeros(len(train_a)), torch.ones(len(train_b))]).long()
    # balanced classes: A and B weigh the same, and the "neither" images made for each batch
    # (a quarter of its size) as much as one domain
    weight = torch.tensor([len(x) / (2 * len(train_a)), len(x) / (2 * len(train_b)), 1.0])
    net = DomainNet(settings.width)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * math.ceil(len(x) / settings.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=max(steps, 1))
    net.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            batch = _augment(x[idx], settings.shift, gen)
            extra = destroyed(batch[: max(1, len(idx) // 4)], gen)
            labels = torch.cat([y[idx], torch.full((len(extra),), 2)])
            loss = F.cross_entropy(net(torch.cat([batch, extra])), labels, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.inference_mode():
        embeds = torch.cat([net.embed(x[s : s + 256]) for s in range(0, len(x), 256)]).double().numpy()
        cal_none = destroyed(torch.cat([cal_a, cal_b]), gen)[: max(1, (len(cal_a) + len(cal_b)) // 4)]
        cal_logits = net(torch.cat([cal_a, cal_b, cal_none])).double().numpy()
    cal_labels = np.array([0] * len(cal_a) + [1] * len(cal_b) + [2] * len(cal_none))
    temperature = _fit_temperature(cal_logits, cal_labels)
    cal_prob = softmax(cal_logits / temperature)
    info = {
        "model": f"CNN from scratch: 4 stride-2 conv layers (width {settings.width}), {settings.size} px, "
                 f"{sum(p.numel() for p in net.parameters())} parameters",
        "trained_on": "trainA vs trainB (the training split only)",
        "n_train": {"A": len(train_a), "B": len(train_b)},
        "calibration": {"method": "temperature scaling on a held-out slice of the training split",
                        "temperature": temperature,
                        "n": {"A": len(cal_a), "B": len(cal_b), "neither": len(cal_none)},
                        "accuracy": float((cal_prob.argmax(1) == cal_labels).mean()),
                        "ece": expected_calibration_error(cal_prob, cal_labels)},
        "classes": list(CLASSES),
        # the constant_mean do-nothing row's colour per domain (spagan.evaluation.yardstick)
        "mean_colour": {"A": images_a.mean((0, 2, 3)).tolist(), "B": images_b.mean((0, 2, 3)).tolist()},
        "train_seconds": round(time.perf_counter() - t0, 2),
    }
    log.info("learned domain classifier: %d A / %d B training images, %.1f s, calibration accuracy %.3f",
             len(train_a), len(train_b), info["train_seconds"], info["calibration"]["accuracy"])
    return LearnedDomainClassifier(net, settings, temperature, embeds.mean(0), embeds.std(0) + 1e-6, info)


def _save(clf: LearnedDomainClassifier, path: Path) -> None:
    """Weights, temperature, standardisation and info in one torch file, written atomically."""
    buf = io.BytesIO()
    torch.save({"state_dict": clf.net.state_dict(), "settings": asdict(clf.settings),
                "temperature": clf.temperature, "embed_mean": torch.from_numpy(clf.embed_mean),
                "embed_std": torch.from_numpy(clf.embed_std), "info_json": json.dumps(clf.info)}, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path, settings: DomainNetSettings) -> LearnedDomainClassifier | None:
    """The cached classifier, or None (with a warning) when the file is unreadable or its settings differ."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob["settings"] != asdict(settings):
            raise ValueError("settings differ from the requested ones")
        net = DomainNet(settings.width)
        net.load_state_dict(blob["state_dict"])
        return LearnedDomainClassifier(net, settings, float(blob["temperature"]), blob["embed_mean"].numpy(),
                                       blob["embed_std"].numpy(), json.loads(blob["info_json"]))
    except Exception as exc:  # noqa: BLE001 - a broken cache entry is retrained, never trusted
        log.warning("%s: unusable cached domain classifier (%s); training again", path, exc)
        return None


def load_or_train(folder_a: Path, folder_b: Path, settings: DomainNetSettings,
                  cache_dir: Path | None) -> LearnedDomainClassifier:
    """The classifier of trainA (`folder_a`) vs trainB, from `cache_dir`/domain_net/<key>.pt when
    there, else trained (and cached when cache_dir is given). info["cache"] says which and the seconds."""
    t0 = time.perf_counter()
    files_a, files_b = training_files(folder_a, folder_b, settings)
    key = cache_key(files_a, files_b, settings)
    path = None if cache_dir is None else Path(cache_dir) / CACHE_SUBDIR / f"{key}.pt"
    clf = _load(path, settings) if path is not None and path.is_file() else None
    hit = clf is not None
    if clf is None:
        stacks = [torch.stack([load_image(p, settings.size) for p in files]) for files in (files_a, files_b)]
        clf = train(stacks[0], stacks[1], settings)
        if path is not None:
            _save(clf, path)
    clf.info["cache"] = {"key": key, "hit": hit, "file": None if path is None else str(path),
                         "seconds": round(time.perf_counter() - t0, 2)}
    return clf
