"""Metadata the data assets show in the Dagster UI: counts, tables, a contact sheet, and the
md5s dvc.lock recorded for the `prepare` stage (built the same way for a run of the assets and
for a `dvc repro` from a shell that the dvc.lock sensor reports)."""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from orchestration.provenance import Recorded
from orchestration.tables import ROW_COUNT, counts_table, manifest_table, table
from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write, json_digest
from spagan.core.md5 import file_md5
from spagan.data.prepare import data_version, read_prepared
from spagan.data.preview import contact_sheet, png_data_uri
from spagan.data.schema import count_table
from spagan.lineage.dvcfiles import RAW_DIR, read_stage_lock
from spagan.lineage.stage_version import locked_code_version, locked_raw_source_version

PREPARE_STAGE = "prepare"
RAW_SOURCE_NAME = "raw_source"  # the observable source asset: data/raw and data.source, as DVC hashes them

PREVIEW_PER_FOLDER = 8  # thumbnails per split/domain in a preview


def counts_metadata(manifest: pd.DataFrame) -> dg.TableMetadataValue:
    """Images per domain and split as table metadata (domain | train | test)."""
    return counts_table(count_table(manifest))


def splits_metadata(summary: dict) -> dict:
    """summary.json's per-split counts (the source's next to the kept, spagan.data.splits) as a
    table, the data.dedupe mode, and the warning for every test split that lost images."""
    splits = summary.get("splits") or {}
    rows = pd.DataFrame([{"split": name, **counts} for name, counts in splits.items()],
                        columns=["split", "source", "kept", "quarantined", "duplicates", "dropped"])
    warnings = summary.get("warnings") or []
    return {"source_vs_kept": table(rows), "dedupe": summary.get("dedupe", "drop"),
            "test_split": "changed: " + " ".join(warnings) if warnings else "as in the source"}


def preview(images_root: Path, paths: list[str], sheet_file: Path, title: str) -> dict:
    """Contact sheet of `paths` (relative to images_root): embedded thumbnail + linked PNG file.

    Dagster has no image metadata type, so the sheet is a base64 PNG inside markdown.
    """
    sheet = contact_sheet([images_root / p for p in paths], tile=48, cols=PREVIEW_PER_FOLDER)
    atomic_write(sheet_file, lambda f: sheet.save(f, format="PNG"))
    return {
        "preview": dg.MetadataValue.md(f"**{title}**\n\n![{title}]({png_data_uri(sheet)})"),
        "preview_file": dg.MetadataValue.path(str(sheet_file)),
    }


def sample_paths(manifest: pd.DataFrame) -> list[str]:
    """The first few images of every split/domain folder, in a stable order."""
    ordered = manifest.sort_values(["split", "domain", "path"], ascending=[False, True, True])
    return list(ordered.groupby(["split", "domain"], sort=False).head(PREVIEW_PER_FOLDER)["path"])


def prepare_lock(repo: Path) -> dict[str, Any]:
    """The `prepare` stage of dvc.lock, checked against the files on disk (the manifest's md5), with
    "signature": a short digest of its outputs' md5s that names this version of the data."""
    lock = read_stage_lock(repo / "dvc.lock", PREPARE_STAGE)
    manifest = repo / "data" / "manifest.csv"
    locked = lock["outs"].get("data/manifest.csv")
    if not manifest.is_file() or locked != file_md5(manifest):
        raise SpaganError(f"{manifest}: differs from dvc.lock (run `dvc repro prepare` or `dvc checkout`)")
    lock["signature"] = json_digest(lock["outs"])
    return lock


def data_materializations(repo: Path, lock: dict[str, Any] | None = None) -> list[Recorded]:
    """raw_images, deduplicated_images, validated_manifest as the prepare stage's outputs under
    `repo`/data and its dvc.lock entry (`lock`: the prepare_lock(repo) the caller already read)
    describe them: metadata, data versions and provenance (the stage's locked code version; the raw
    source version the lock hashed, then each asset's upstream data version)."""
    out, lock = repo / "data", lock or prepare_lock(repo)
    t = read_prepared(out)
    source = t.summary.get("source") or {}
    trace = {"source": source.get("path") or "demo domains",
             "source_md5": source.get("md5") or "unknown",
             "raw_dir_md5": lock["deps"].get(RAW_DIR) or "not a dependency",
             "prepare_lock": lock["signature"]}
    reasons = t.quarantine["reason"].value_counts().rename_axis("reason").reset_index(name="files")
    raw = {
        **trace,
        "images": len(t.ingested),
        ROW_COUNT: len(t.ingested),
        "counts": counts_metadata(t.ingested),
        "quarantined": len(t.quarantine),
        "quarantine_reasons": table(reasons, ["reason", "files"]),
        "quarantine": table(t.quarantine, ["source_path", "reason", "detail"]),
        "quarantine_file": dg.MetadataValue.path(str(out / "quarantine.csv")),
        "data_version": t.summary["raw_version"],
        **preview(out / "ingested", sample_paths(t.ingested), out / "previews" / "raw_images.png", "raw images"),
    }
    dups = t.duplicates
    kinds = dups["kind"].value_counts().rename_axis("kind").reset_index(name="images")
    pairs = [p for d, k in zip(dups["path"], dups["duplicate_of"]) for p in (d, k)][:32]  # listed, then its copy
    kept_version = data_version(t.kept)
    dedup = {
        **trace,
        "images": len(t.kept),
        ROW_COUNT: len(t.kept),
        "counts": counts_metadata(t.kept),
        **splits_metadata(t.summary),
        "duplicates": len(dups),
        "leakage": int((dups["kind"] == "leakage").sum()),
        "duplicate_kinds": table(kinds, ["kind", "images"]),
        "duplicate_table": table(dups, ["path", "kind", "duplicate_of", "distance", "kept"]),
        "duplicates_file": dg.MetadataValue.path(str(out / "duplicates.csv")),
        "data_version": kept_version,
        **preview(out / "ingested", pairs, out / "previews" / "duplicates.png",
                  "duplicate pairs (listed, the copy it duplicates)"),
    }
    validated = {
        **trace,
        "images": len(t.manifest),
        **manifest_table(t.manifest, ["path", "domain", "split", "width", "height", "orig_format", "mask_path",
                                      "pair_path"]),
        "counts": counts_metadata(t.manifest),
        "manifest": dg.MetadataValue.path(str(out / "manifest.csv")),
        "manifest_md5": lock["outs"].get("data/manifest.csv"),
        "prepared_dir": dg.MetadataValue.path(str(out / "prepared")),
        "prepared_md5": lock["outs"].get("data/prepared"),
        "with_masks": int((t.manifest["mask_path"] != "").sum()),
        "with_counterparts": int((t.manifest["pair_path"] != "").sum()),
        "data_version": t.summary["data_version"],
        **preview(out / "prepared", sample_paths(t.manifest), out / "previews" / "validated_manifest.png",
                  "prepared images (rows: testA, testB, trainA, trainB)"),
    }
    code = locked_code_version(repo, PREPARE_STAGE)
    raw_source = dg.AssetKey(RAW_SOURCE_NAME)
    return [Recorded(dg.AssetKey("raw_images"), raw, t.summary["raw_version"], code,
                     {raw_source: locked_raw_source_version(repo, PREPARE_STAGE)}),
            Recorded(dg.AssetKey("deduplicated_images"), dedup, kept_version, code,
                     {dg.AssetKey("raw_images"): t.summary["raw_version"]}),
            Recorded(dg.AssetKey("validated_manifest"), validated, t.summary["data_version"], code,
                     {dg.AssetKey("deduplicated_images"): kept_version})]
