"""Ingest a CycleGAN-layout source: check, normalise and hash every image, quarantine the rest.

Each usable image is decoded once, normalised to RGB (spagan.data.decode, .normalise) and
written to ``out_dir/<split><domain>/<name>.png`` (``.jpg`` for upright RGB JPEGs, copied as
they are); its manifest row carries the sha256 of the *source bytes* and the perceptual hash
(imagehash.phash, 64 bits) of the normalised pixels. Its ground-truth mask and its counterpart
(the same scene in the other domain), when the source has them, are copied to
``out_dir/<split><domain>_mask/<name>.png`` and ``_pair/<name>.png``, named in the row's
``mask_path`` and ``pair_path`` ("" when none). A mask must have its image's size (masks are
aligned pixel for pixel; any size of image is fine): a PNG mask is copied as it is, another
format re-encoded as PNG; a mismatched or unreadable one is quarantined and its image kept
without it. A file that cannot be used becomes a
quarantine row with a reason code (decode.QUARANTINE_REASONS); nothing here raises for a bad
file, and the source is only ever opened for reading. Work is spread over processes (one per
core) because decoding and encoding hold the GIL.
"""

from __future__ import annotations

import hashlib
import io
import logging
import multiprocessing
import os
import shutil
import sys
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from spagan.core.fileio import make_temp_dir, replace_dir
from spagan.data.decode import process_star, read_source
from spagan.data.schema import MANIFEST_COLUMNS, QUARANTINE_COLUMNS
from spagan.data.sources import COMPANION_SUFFIXES, SourceItem, SourceListing, companion_key, list_source

log = logging.getLogger(__name__)

# fork on Linux: a spawned worker re-imports the caller's main module (pandas, pandera, dagster),
# which costs more CPU than ingesting a thousand images. The workers only decode and hash
# (no threads, no torch), and Python re-creates logging locks after fork, so forking is safe.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


@dataclass(frozen=True)
class IngestResult:
    """Manifest of usable images (MANIFEST_COLUMNS) and quarantine table (QUARANTINE_COLUMNS)."""

    manifest: pd.DataFrame
    quarantine: pd.DataFrame
    ignored: list[str]
    kind: str = "folder"  # folder | zip: what the source was


def prepared_names(items: list[SourceItem]) -> dict[str, str]:
    """Map source_path -> prepared relative path without extension: ``<split><domain>/<flat name>``.

    Sub-folders are flattened with ``__`` so training can list one folder per split; a name
    already taken (``a.jpg`` and ``a.png``) gets a short hash of its source path appended.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for it in sorted(items, key=lambda i: i.source_path):
        stem = os.path.splitext(it.rel)[0].replace("/", "__")
        name = f"{it.split}{it.domain}/{stem}"
        if name.lower() in taken:  # lower: the result must also be unique on case-insensitive disks
            tag = hashlib.sha1(it.source_path.encode()).hexdigest()[:8]
            name = f"{it.split}{it.domain}/{stem}-{tag}"
        taken.add(name.lower())
        out[it.source_path] = name
    return out


def default_workers() -> int:
    """Processes to use: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Manifest column -> suffix of the folder (a key of sources.COMPANION_SUFFIXES) the image's file
# of that kind comes from in the source and is copied to here.
COMPANIONS = {"mask_path": "_mask", "pair_path": "_pair"}


def _check_mask(data: bytes, size: tuple[int, int]) -> tuple[bytes, str, str]:
    """(PNG bytes of the mask, "", "") when `data` is an image of `size` (width, height), else
    (b"", reason, detail). A mask of another format is re-encoded as PNG (mode L); a PNG is kept
    byte for byte."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size != size:
                return b"", "mask_size_mismatch", f"mask is {im.size[0]}x{im.size[1]}, its image {size[0]}x{size[1]}"
            if im.format == "PNG":
                return data, "", ""
            buf = io.BytesIO()
            im.convert("L").save(buf, format="PNG")
            return buf.getvalue(), "", ""
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return b"", "corrupt", f"mask unreadable: {exc}"


def _copy_companion(listing: SourceListing, field: str, item: SourceItem, row: dict, out_dir: Path,
                    rel: str) -> tuple[str, dict | None]:
    """Copy the `field` file (masks, pairs) of `item` (manifest `row`) to ``out_dir/rel``. Returns
    (`rel`, None); ("", None) when the item has none; ("", quarantine row of the file) when it
    cannot be used: unreadable, or a mask not the size of its image (it would not be aligned).
    The image is kept either way."""
    src = getattr(listing, field).get(companion_key(item.split, item.domain, item.rel))
    if src is None:
        return "", None
    bad = {"source_path": src, "split": item.split, "domain": item.domain, "bytes": 0, "sha256": ""}
    try:
        data = read_source(listing.kind, str(listing.root), src)
    except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
        return "", {**bad, "reason": "unreadable", "detail": f"{exc} (image {item.source_path} kept without it)"}
    if field == "masks":
        checked, reason, detail = _check_mask(data, (row["width"], row["height"]))
        if reason:
            return "", {**bad, "reason": reason, "detail": f"{detail} (image {item.source_path} kept without it)",
                        "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        data = checked
    dest = out_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return rel, None


def _add_companions(row: dict, listing: SourceListing, item: SourceItem, out_dir: Path, name: str) -> list[dict]:
    """Fill the row's companion columns for the image prepared as `name` (``<split><domain>/<stem>``);
    return the quarantine rows of companions that cannot be used."""
    folder, stem = name.split("/", 1)
    problems = []
    for column, suffix in COMPANIONS.items():
        rel = f"{folder}{suffix}/{stem}.png"
        row[column], problem = _copy_companion(listing, COMPANION_SUFFIXES[suffix], item, row, out_dir, rel)
        if problem is not None:
            log.warning("%s: %s", problem["source_path"], problem["detail"])
            problems.append(problem)
    return problems


def ingest(
    source: str | Path,
    out_dir: str | Path,
    *,
    min_size: int,
    max_pixels: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Ingest `source` (folder or .zip) into `out_dir` (replaced atomically as a whole).

    Writes ``out_dir/<split><domain>/*.png`` (and ``*_mask/``, ``*_pair/`` copies of masks and
    counterparts), ``manifest.csv`` and ``quarantine.csv``. `progress(done, total)` is called per file.
    """
    listing = list_source(source)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out_dir.parent, f".{out_dir.name}.tmp-")
    try:
        names = prepared_names([it for it in listing.items if it.split and not it.problem])
        for sub in {n.split("/")[0] for n in names.values()}:
            (tmp / sub).mkdir(parents=True, exist_ok=True)
        tasks = [
            (listing.kind, str(listing.root), it, str(tmp / names.get(it.source_path, "unused")),
             min_size, max_pixels)
            for it in listing.items
        ]
        n_workers = default_workers() if workers is None else workers
        results: list[tuple[str, dict]] = []
        if n_workers <= 1 or len(tasks) < 32:
            for done, task in enumerate(tasks, 1):
                results.append(process_star(task))
                if progress:
                    progress(done, len(tasks))
        else:
            ctx = multiprocessing.get_context(START_METHOD)
            chunk = max(1, min(64, len(tasks) // (n_workers * 8)))
            with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                for done, res in enumerate(pool.map(process_star, tasks, chunksize=chunk), 1):
                    results.append(res)
                    if progress:
                        progress(done, len(tasks))
        rows, bad = [], []
        by_path = {it.source_path: it for it in listing.items}
        for status, row in results:
            if status == "quarantine":
                bad.append(row)
                continue
            item = by_path[row["source_path"]]
            row["path"] = names[item.source_path] + os.path.splitext(row["path"])[1]
            bad.extend(_add_companions(row, listing, item, tmp, names[item.source_path]))
            rows.append(row)
        manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).sort_values("path", ignore_index=True)
        quarantine = pd.DataFrame(bad, columns=QUARANTINE_COLUMNS).sort_values("source_path", ignore_index=True)
        manifest.to_csv(tmp / "manifest.csv", index=False)
        quarantine.to_csv(tmp / "quarantine.csv", index=False)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("ingested %d images, quarantined %d, ignored %d", len(manifest), len(quarantine), len(listing.ignored))
    return IngestResult(manifest, quarantine, listing.ignored, listing.kind)
