"""Data preparation throughput and near-duplicate search time.

    .venv/bin/python benchmarks/data_prep.py [--images 2000] [--size 256]

1. Images per second through ingest (decode, check, normalise, sha256 + phash, PNG write),
   deduplication and pandera validation, on 256 px JPEGs of demo scenes, with all cores and
   with one process (the baseline measured in the same run). Target: >= 300 images/s on 2 cores.
2. Near-duplicate search (indexed, data.phash_threshold bits) for 1k, 10k and 100k random
   64-bit hashes. Target: 100k in < 10 s.
"""

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from spagan.data.dedupe import find_duplicates, near_pairs
from spagan.data.demo import render_scene
from spagan.data.ingest import default_workers, ingest
from spagan.data.schema import validate_manifest


def make_jpegs(root: Path, n: int, size: int) -> None:
    """n JPEG scenes split over trainA/trainB/testA/testB (not timed)."""
    for i in range(n):
        folder = ("trainA", "trainB", "testA", "testB")[i % 4]
        img, _ = render_scene((7, i % 2, 0, i), size, striped=bool(i % 2))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{i:05d}.jpg").write_bytes(buf.getvalue())


def time_chain(src: Path, out: Path, workers: int) -> tuple[float, int]:
    """Seconds for ingest + dedupe + validate, and the number of images."""
    start = time.perf_counter()
    result = ingest(src, out, min_size=32, max_pixels=89_478_485, workers=workers)
    kept = find_duplicates(result.manifest, 6).kept
    validate_manifest(kept, min_size=32, min_images_per_split=1)
    return time.perf_counter() - start, len(result.manifest)


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    workers = default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        make_jpegs(src, args.images, args.size)
        serial_s, n = time_chain(src, Path(tmp) / "out1", 1)
        parallel_s, _ = time_chain(src, Path(tmp) / "out2", workers)
    print(f"ingest+hash+dedupe+validate, {n} JPEGs at {args.size} px:")
    print(f"  1 process:   {n / serial_s:7.1f} images/s ({serial_s:.2f} s)")
    print(f"  {workers} processes: {n / parallel_s:7.1f} images/s ({parallel_s:.2f} s), "
          f"speed-up x{serial_s / parallel_s:.2f} (target >= 300 images/s)")
    rng = np.random.default_rng(0)
    print("near-duplicate search, threshold 6 bits:")
    for count in (1_000, 10_000, 100_000):
        high = rng.integers(0, 2**63, count, dtype=np.uint64) * np.uint64(2)
        hashes = high + rng.integers(0, 2, count, dtype=np.uint64)
        start = time.perf_counter()
        i, _, _ = near_pairs(hashes, 6)
        print(f"  {count:>7} hashes: {time.perf_counter() - start:6.3f} s ({len(i)} pairs) (target 100k < 10 s)")


if __name__ == "__main__":
    main()
