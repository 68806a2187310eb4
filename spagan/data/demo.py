"""The demo domains: horse<->zebra in miniature, generated deterministically from a seed.

Domain A: one plain-coloured object (ellipse, box, triangle or a four-legged "animal") on a
textured natural background. Domain B: the same kind of scene with a black-and-white striped
object. Every image ``trainA/a_0007.png`` has its ground-truth object mask (0/255, L) beside it
in ``trainA_mask/a_0007.png``. Each image draws from its own generator seeded by
(seed, domain, split, index), so a fixed seed gives byte-identical files whatever the counts.

Every test image also has its counterpart: ``testA_pair/a_0007.png`` is the same scene with the
other domain's object (same background pixels exactly, same mask), the ground truth a translation
of ``testA/a_0007.png`` should come close to. It is the same seed rendered with the other domain:
`render_scene` draws background, mask and shading before the object, so only the object changes.
Only test images have counterparts: they serve evaluation, and training stays unpaired.

The demo also plants exact duplicates, near duplicates (resized, re-encoded, recoloured),
train/test leakage and broken files, listed in ``planted.csv``, so every check has something
real to find.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

_BACKGROUNDS = [  # (base RGB, variation RGB): grass, dry grass, sand, soil, sky-over-field
    ((70, 120, 50), (40, 50, 30)), ((150, 140, 70), (50, 40, 30)), ((200, 180, 130), (40, 35, 30)),
    ((110, 80, 55), (40, 30, 25)), ((120, 160, 200), (30, 40, 40)),
]
_OBJECT_COLOURS = [(140, 90, 50), (90, 60, 40), (200, 160, 110), (60, 45, 35), (170, 120, 80), (230, 220, 210)]
_SHAPES = ("ellipse", "box", "triangle", "animal")


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a cells x cells random grid upsampled bicubically to size x size."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    up = Image.fromarray(grid, mode="L").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 255.0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base, var = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
    coarse = _smooth_noise(rng, size, int(rng.integers(3, 7)))
    fine = rng.random((size, size)).astype(np.float32)
    tex = 0.65 * coarse + 0.35 * fine - 0.5
    horizon = np.linspace(-0.25, 0.25, size, dtype=np.float32)[:, None] * rng.uniform(-1, 1)
    img = np.array(base, np.float32) + (tex + horizon)[..., None] * np.array(var, np.float32) * 2
    return np.clip(img, 0, 255)


def _shape_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """Boolean object mask: a random shape, size and position, always clear of the border."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    shape = _SHAPES[rng.integers(len(_SHAPES))]
    r = size * rng.uniform(0.16, 0.3)
    cx, cy = rng.uniform(r + 2, size - r - 2, size=2)
    angle = rng.uniform(0, np.pi)
    c, s = np.cos(angle), np.sin(angle)
    u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
    if shape == "ellipse":
        return (u / r) ** 2 + (v / (r * rng.uniform(0.5, 0.9))) ** 2 <= 1
    if shape == "box":
        return (np.abs(u) <= r) & (np.abs(v) <= r * rng.uniform(0.5, 0.9))
    if shape == "triangle":
        return (v <= r * 0.6) & (v >= -r + np.abs(u) * 1.6)
    # "animal": a body, a head and four legs, upright (no rotation) like a side view.
    u, v = xx - cx, yy - cy
    body = (u / r) ** 2 + (v / (0.55 * r)) ** 2 <= 1
    hx = r * (1.0 if rng.random() < 0.5 else -1.0)
    head = ((u - hx) / (0.38 * r)) ** 2 + ((v + 0.55 * r) / (0.3 * r)) ** 2 <= 1
    legs = np.zeros_like(body)
    for lx in (-0.7, -0.35, 0.35, 0.7):
        legs |= (np.abs(u - lx * r) <= 0.09 * r + 0.6) & (v >= 0) & (v <= 1.05 * r)
    return body | head | legs


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zebra-like stripes in [0, 1]: a wavy sine grating thresholded to black and white."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(4.0, 7.0) * size / 64
    wave = 1.5 * np.sin(yy / size * rng.uniform(2, 6) + rng.uniform(0, 6.3))
    phase = (xx * np.cos(theta) + yy * np.sin(theta) + wave) * (2 * np.pi / period)
    return (np.sin(phase) > 0).astype(np.float32)


def render_scene(seed: tuple[int, ...], size: int, striped: bool) -> tuple[np.ndarray, np.ndarray]:
    """One scene as (RGB uint8 image, bool mask), fully determined by `seed`."""
    rng = np.random.default_rng(list(seed))
    img = _background(rng, size)
    mask = _shape_mask(rng, size)
    shade = 0.85 + 0.3 * _smooth_noise(rng, size, 3)[..., None]  # soft light, same for both domains
    if striped:
        stripes = _stripes(rng, size)[..., None]
        obj = (20 + stripes * 215) * shade
    else:
        obj = np.array(_OBJECT_COLOURS[rng.integers(len(_OBJECT_COLOURS))], np.float32) * shade
    img = np.where(mask[..., None], obj, img)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), mask


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _write_scene(root: Path, split: str, domain: str, scene_seed: tuple[int, ...], size: int) -> Path:
    """Write one scene's image and mask (and, for a test image, its counterpart); return the image."""
    img, mask = render_scene(scene_seed, size, striped=domain == "B")
    name = f"{domain.lower()}_{scene_seed[-1]:04d}.png"
    files = {f"{split}{domain}": _png(img, "RGB"), f"{split}{domain}_mask": _png((mask * 255).astype(np.uint8), "L")}
    if split == "test":
        # The same seed with the other domain's object: stripes for an A image, plain colour for a B one.
        files[f"{split}{domain}_pair"] = _png(render_scene(scene_seed, size, striped=domain == "A")[0], "RGB")
        (root / f"{split}{domain}_pair").mkdir(exist_ok=True)
    for folder, data in files.items():
        (root / folder / name).write_bytes(data)
    return root / f"{split}{domain}" / name


@dataclass(frozen=True)
class DemoSummary:
    """What was generated: clean image count and the planted problems (path, kind, of)."""

    root: Path
    images: int
    planted: list[dict]


def generate_demo(
    out_dir: str | Path,
    *,
    size: int = 64,
    train_per_domain: int = 120,
    test_per_domain: int = 30,
    seed: int = 0,
    planted_duplicates: int = 3,
    planted_broken: int = 3,
) -> DemoSummary:
    """Write the demo source (CycleGAN layout + ``*_mask`` folders + ``test*_pair`` counterparts +
    planted.csv) into `out_dir`."""
    root = Path(out_dir)
    counts = {"train": train_per_domain, "test": test_per_domain}
    originals: dict[str, list[Path]] = {}
    for d_idx, domain in enumerate("AB"):
        for s_idx, split in enumerate(("train", "test")):
            # Made even for no images: planted broken files may still go there.
            for folder in (f"{split}{domain}", f"{split}{domain}_mask"):
                (root / folder).mkdir(parents=True, exist_ok=True)
            paths = originals.setdefault(f"{split}{domain}", [])
            for i in range(counts[split]):
                paths.append(_write_scene(root, split, domain, (seed, d_idx, s_idx, i), size))
    planted = _plant(root, originals, planted_duplicates, planted_broken, seed)
    with open(root / "planted.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "kind", "of"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(planted)
    total = sum(len(v) for v in originals.values())
    log.info("demo: %d images, %d planted problems in %s", total, len(planted), root)
    return DemoSummary(root, total, planted)


def _plant(root: Path, originals: dict[str, list[Path]], n_dup: int, n_broken: int, seed: int) -> list[dict]:
    """Copies and broken files; each names the original it imitates (relative to `root`)."""
    rng = np.random.default_rng([seed, 99])
    rel = lambda p: p.relative_to(root).as_posix()
    planted: list[dict] = []

    unused = {k: [v[i] for i in rng.permutation(len(v))] for k, v in sorted(originals.items())}

    def pick(folder: str) -> Path | None:
        """A random original not used for another plant (None when the folder is exhausted)."""
        return unused[folder].pop() if unused[folder] else None

    for k in range(n_dup):
        domain = "AB"[k % 2]
        src = pick(f"train{domain}")
        if src is not None:  # exact: the same bytes under another name
            dst = src.with_name(src.stem + "_copy.png")
            dst.write_bytes(src.read_bytes())
            planted.append({"path": rel(dst), "kind": "exact", "of": rel(src)})
        src = pick(f"train{domain}")
        if src is not None:  # near: resized, re-encoded as JPEG, or slightly recoloured
            im = Image.open(src).convert("RGB")
            variant = k % 3
            if variant == 0:
                im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.BICUBIC)
            elif variant == 2:
                im = Image.fromarray(np.clip(np.asarray(im, np.float32) * 1.06 + 4, 0, 255).astype(np.uint8))
            dst = src.with_name(src.stem + "_near.jpg")
            dst.write_bytes(_jpeg(im, 92))
            planted.append({"path": rel(dst), "kind": "near", "of": rel(src)})
        src = pick(f"test{domain}")
        if src is not None:  # leakage: a re-encoded test image in train
            dst = root / f"train{domain}" / f"leak_{src.stem}.jpg"
            dst.write_bytes(_jpeg(Image.open(src).convert("RGB"), 90))
            planted.append({"path": rel(dst), "kind": "leakage", "of": rel(src)})
    for k in range(n_broken):
        folder = ("trainA", "trainB", "testA", "testB")[k % 4]
        variant = ("empty_file", "corrupt", "not_an_image")[k % 3]
        dst = root / folder / f"broken_{k:02d}_{variant}.png"
        if variant == "empty_file":
            dst.write_bytes(b"")
        elif variant == "corrupt":  # a truncated PNG: valid header, half the data
            src = originals[folder][0] if originals[folder] else None
            data = src.read_bytes() if src else b"\x89PNG\r\n\x1a\n"
            dst.write_bytes(data[: max(8, len(data) // 2)])
        else:
            dst.write_bytes(b"this is a text file, not a PNG\n")
        planted.append({"path": rel(dst), "kind": variant, "of": ""})
    return planted
