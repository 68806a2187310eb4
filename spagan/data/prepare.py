"""The data chain in three steps, each reading the previous step's files under one folder.

Layout of ``out_dir`` (the same for ``spagan prepare --out DIR`` and the Dagster assets)::

    source/            the generated demo source (only when the demo is used)
    ingested/          every usable image, normalised (RGB PNG, or the upright RGB JPEG/PNG as it
                       was) + manifest.csv + quarantine.csv
    prepared/          kept images (trainA/ trainB/ testA/ testB/), their masks (*_mask/) and
                       counterparts (*_pair/) + manifest.csv: the training input
    quarantine.csv     every unusable file with its reason
    source.json        which raw source was ingested: data.source ("" = demo), kind, DVC md5
    duplicates.csv     every exact/near duplicate and train/test leak with its kind, the copy it
                       duplicates, and whether it was kept (data.dedupe: report) or dropped
    manifest.csv       the validated manifest of prepared/ (written only when valid)
    summary.json       counts (per split: the source's next to the kept), reasons, data versions,
                       and a warning for every test split that kept fewer images than the source

Data versions are sha256 digests of (path, content hash) lines, so an unchanged source gives
an unchanged version whatever the file times or the order of listing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spagan.config import DataConfig
from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_text, link_or_copy, make_temp_dir, replace_dir
from spagan.core.md5 import path_md5
from spagan.data.dedupe import DedupeResult, find_duplicates
from spagan.data.demo import generate_demo
from spagan.data.ingest import COMPANIONS, IngestResult, ingest
from spagan.data.schema import (
    DUPLICATE_COLUMNS,
    MANIFEST_COLUMNS,
    QUARANTINE_COLUMNS,
    count_table,
    read_table,
    validate_manifest,
)
from spagan.data.splits import split_counts, split_warnings

log = logging.getLogger(__name__)


def data_version(manifest: pd.DataFrame, quarantine: pd.DataFrame | None = None) -> str:
    """16-hex digest of the sorted (path, sha256[, reason]) lines of the given tables."""
    lines = sorted(f"{p}\t{h}" for p, h in zip(manifest["path"], manifest["sha256"]))
    if quarantine is not None:
        lines += sorted(f"Q\t{p}\t{h}\t{r}" for p, h, r in
                        zip(quarantine["source_path"], quarantine["sha256"], quarantine["reason"]))
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically."""
    atomic_write_text(path, df.to_csv(index=False))


def make_demo_source(out_dir: str | Path, cfg: DataConfig) -> Path:
    """Generate the demo source into ``out_dir/source`` (replaced as a whole) and return it."""
    dest = Path(out_dir) / "source"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(dest.parent, ".source.tmp-")
    generate_demo(tmp, size=cfg.demo_size, train_per_domain=cfg.demo_train_per_domain,
                  test_per_domain=cfg.demo_test_per_domain, seed=cfg.demo_seed,
                  planted_duplicates=cfg.demo_planted_duplicates, planted_broken=cfg.demo_planted_broken)
    replace_dir(tmp, dest)
    return dest


def check_outside_source(source: str | Path, out_dir: Path) -> None:
    """Refuse an output folder inside the source: raw data is never modified."""
    if Path(source).resolve() in (out_dir.resolve(), *out_dir.resolve().parents):
        raise SpaganError(f"{out_dir}: output folder must not lie inside the source {source} (raw data is read-only)")


def resolve_source(cfg: DataConfig, base: str | Path, *, within: str | Path | None = None) -> Path | None:
    """The raw source data.source names, relative to `base` (the folder of params.yaml); None for
    the demo (""). With `within`, the source must lie inside that folder: the DVC prepare stage
    hashes that folder, so a source elsewhere would not be part of the model's lineage."""
    if not cfg.source:
        return None
    source = Path(base) / cfg.source
    if within is not None:
        root = (Path(base) / within).resolve()
        if root != source.resolve() and root not in source.resolve().parents:
            raise SpaganError(f"data.source={cfg.source}: must lie inside {within}/, the folder the DVC `prepare` "
                              f"stage hashes (move it there, then `dvc add` it)")
    if not source.exists():
        raise SpaganError(f"data.source={cfg.source}: source not found ({source})")
    return source


def ingest_step(
    source: str | Path, out_dir: str | Path, cfg: DataConfig, *, workers: int | None = None,
    progress: Callable[[int, int], None] | None = None, label: str | None = None,
) -> IngestResult:
    """Step 1: ingest `source` into ``out_dir/ingested``; write ``quarantine.csv`` and ``source.json``
    (`label`: how params name the source, "" for the demo; default: the path as given)."""
    out = Path(out_dir)
    check_outside_source(source, out)
    result = ingest(source, out / "ingested", min_size=cfg.min_size, max_pixels=cfg.max_pixels,
                    workers=workers, progress=progress)
    write_csv(result.quarantine, out / "quarantine.csv")
    facts = {"path": str(source) if label is None else label, "kind": result.kind if label != "" else "demo",
             "md5": path_md5(source)}  # DVC's own hash of the file or folder (what `dvc add` records)
    atomic_write_text(out / "source.json", json.dumps(facts, indent=2) + "\n")
    return result


def _kept_files(kept: pd.DataFrame) -> list[str]:
    """Every file the kept rows name: the images, then their masks and counterparts (where present)."""
    return list(kept["path"]) + [rel for column in COMPANIONS for rel in kept[column] if rel]


def dedupe_step(out_dir: str | Path, cfg: DataConfig) -> DedupeResult:
    """Step 2: list duplicates and leaks in duplicates.csv; link the kept images (every image with
    data.dedupe: report, the unlisted ones with drop), their masks and counterparts into
    ``out_dir/prepared``."""
    out = Path(out_dir)
    manifest = read_table(out / "ingested" / "manifest.csv", MANIFEST_COLUMNS)
    result = find_duplicates(manifest, cfg.phash_threshold, drop=cfg.dedupe == "drop")
    tmp = make_temp_dir(out, ".prepared.tmp-")
    try:
        for rel in _kept_files(result.kept):
            link_or_copy(out / "ingested" / rel, tmp / rel)  # prepared/ costs no space
        result.kept.to_csv(tmp / "manifest.csv", index=False)
        replace_dir(tmp, out / "prepared")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_csv(result.duplicates, out / "duplicates.csv")
    return result


def validate_step(out_dir: str | Path, cfg: DataConfig) -> pd.DataFrame:
    """Step 3: validate ``prepared/manifest.csv``; write manifest.csv and summary.json.

    Raises ManifestValidationError (a SpaganError) with the readable report; then
    ``validation_report.txt`` holds it and no manifest.csv is left behind.
    """
    out = Path(out_dir)
    manifest = read_table(out / "prepared" / "manifest.csv", MANIFEST_COLUMNS)
    (out / "validation_report.txt").unlink(missing_ok=True)
    try:
        valid = validate_manifest(manifest, min_size=cfg.min_size, min_images_per_split=cfg.min_images_per_split,
                                  unique_content=cfg.dedupe == "drop")  # report keeps exact copies
    except Exception as exc:
        (out / "manifest.csv").unlink(missing_ok=True)
        (out / "validation_report.txt").write_text(str(exc) + "\n", encoding="utf-8")
        raise
    write_csv(valid, out / "manifest.csv")
    summary = summarise(out, cfg.dedupe)
    for warning in summary["warnings"]:  # a benchmark's test split must never change silently
        log.warning("test split changed: %s", warning)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return valid


def summarise(out_dir: str | Path, dedupe: str) -> dict:
    """Counts, reasons and versions of what the three steps wrote under `out_dir` (`dedupe`: the
    data.dedupe they ran with)."""
    out = Path(out_dir)
    ingested = read_table(out / "ingested" / "manifest.csv", MANIFEST_COLUMNS)
    quarantine = read_table(out / "quarantine.csv", QUARANTINE_COLUMNS)
    dups = read_table(out / "duplicates.csv", DUPLICATE_COLUMNS)
    kept = read_table(out / "prepared" / "manifest.csv", MANIFEST_COLUMNS)
    counts = count_table(kept)
    splits = split_counts(ingested, quarantine, kept, dups)
    return {
        "images": len(kept),
        "counts": {f"{s}{d}": int(counts.at[d, s]) for d in counts.index for s in counts.columns},
        "dedupe": dedupe,
        "splits": splits,  # per split folder: source (usable images), quarantined, duplicates, dropped, kept
        "warnings": split_warnings(splits, dups, dedupe),
        "ingested": len(ingested),
        "quarantined": len(quarantine),
        "quarantine_reasons": {str(k): int(v) for k, v in quarantine["reason"].value_counts().sort_index().items()},
        "duplicates": {str(k): int(v) for k, v in dups["kind"].value_counts().sort_index().items()},
        "raw_version": data_version(ingested, quarantine),
        "data_version": data_version(kept),
        "source": json.loads((out / "source.json").read_text(encoding="utf-8"))
        if (out / "source.json").is_file() else None,
    }


@dataclass(frozen=True)
class PrepareOutcome:
    """Result of the whole chain."""

    out_dir: Path
    summary: dict
    manifest: pd.DataFrame


def prepare(
    source: str | Path | None, out_dir: str | Path, cfg: DataConfig, *, workers: int | None = None,
    progress: Callable[[int, int], None] | None = None, label: str | None = None,
) -> PrepareOutcome:
    """Ingest -> dedupe -> validate. `source` None generates the demo domains first; `label` is how
    the source is named in source.json (data.source as written in params; default: the path)."""
    out = Path(out_dir)
    if source is not None:
        check_outside_source(source, out)
    out.mkdir(parents=True, exist_ok=True)
    src = make_demo_source(out, cfg) if source is None else Path(source)
    ingest_step(src, out, cfg, workers=workers, progress=progress, label="" if source is None else label)
    dedupe_step(out, cfg)
    manifest = validate_step(out, cfg)
    return PrepareOutcome(out, summarise(out, cfg.dedupe), manifest)


@dataclass(frozen=True)
class PreparedTables:
    """Every table the three steps wrote under one folder, read back (for reports and the UI)."""

    ingested: pd.DataFrame  # usable images of the source
    quarantine: pd.DataFrame  # unusable files with their reasons
    kept: pd.DataFrame  # prepared/manifest.csv: images left after deduplication
    duplicates: pd.DataFrame  # listed duplicates and leaks with the copy they duplicate, kept or dropped
    manifest: pd.DataFrame  # the validated manifest.csv
    summary: dict  # summary.json


def read_prepared(out_dir: str | Path) -> PreparedTables:
    """The outputs of a finished `prepare` under `out_dir` (raises SpaganError naming a missing file)."""
    out = Path(out_dir)
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        raise SpaganError(f"{summary_path}: not found (the data has not been prepared: run `dvc repro prepare`)")
    return PreparedTables(
        ingested=read_table(out / "ingested" / "manifest.csv", MANIFEST_COLUMNS),
        quarantine=read_table(out / "quarantine.csv", QUARANTINE_COLUMNS),
        kept=read_table(out / "prepared" / "manifest.csv", MANIFEST_COLUMNS),
        duplicates=read_table(out / "duplicates.csv", DUPLICATE_COLUMNS),
        manifest=read_table(out / "manifest.csv", MANIFEST_COLUMNS),
        summary=json.loads(summary_path.read_text(encoding="utf-8")),
    )
