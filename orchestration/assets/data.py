"""Data assets (group ``data``): raw images -> deduplicated images -> validated manifest.

Each asset calls one step of spagan.data.prepare and reports counts, problems, a preview and a
data version derived from content hashes (an unchanged source gives an unchanged version).
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.assets.data_metadata import counts_md, preview, sample_paths, table_md
from orchestration.resources import DataPaths
from spagan.data.prepare import data_version, dedupe_step, ingest_step, make_demo_source, validate_step
from spagan.data.schema import MANIFEST_COLUMNS, ManifestValidationError, read_table


class RawImagesConfig(dg.Config):
    """Where the images come from."""

    source: str = ""  # CycleGAN-layout folder or .zip; "" generates the demo domains (data.demo_*)
    workers: int = 0  # decoding processes; 0 = all cores


@dg.asset(group_name="data", compute_kind="python")
def raw_images(context: dg.AssetExecutionContext, config: RawImagesConfig, data_paths: DataPaths):
    """Every usable image of the source, normalised to RGB PNG; bad files quarantined with a reason."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    source = Path(config.source) if config.source else make_demo_source(out, cfg)
    result = ingest_step(source, out, cfg, workers=config.workers or None)
    quarantine = result.quarantine
    version = data_version(result.manifest, quarantine)
    context.log.info(f"ingested {len(result.manifest)} images, quarantined {len(quarantine)}")
    reasons = quarantine["reason"].value_counts().rename_axis("reason").reset_index(name="files")
    return dg.MaterializeResult(
        metadata={
            "source": dg.MetadataValue.path(str(source)),
            "images": len(result.manifest),
            "counts": counts_md(result.manifest),
            "quarantined": len(quarantine),
            "quarantine_reasons": table_md(reasons, ["reason", "files"]),
            "quarantine": table_md(quarantine, ["source_path", "reason", "detail"]),
            "quarantine_file": dg.MetadataValue.path(str(out / "quarantine.csv")),
            "ignored_files": len(result.ignored),
            "data_version": version,
            **preview(out / "ingested", sample_paths(result.manifest), out / "previews" / "raw_images.png",
                      "raw images"),
        },
        data_version=dg.DataVersion(version),
    )


@dg.asset(group_name="data", deps=[raw_images], compute_kind="python")
def deduplicated_images(context: dg.AssetExecutionContext, data_paths: DataPaths):
    """Kept images in prepared/: exact and near duplicates and train copies of test images dropped."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    result = dedupe_step(out, cfg)
    dups = result.duplicates
    version = data_version(result.kept)
    context.log.info(f"kept {len(result.kept)} images, dropped {len(dups)} duplicates")
    kinds = dups["kind"].value_counts().rename_axis("kind").reset_index(name="images")
    # Preview pairs side by side: dropped copy, then the image kept in its place.
    pairs = [p for d, k in zip(dups["path"], dups["duplicate_of"]) for p in (d, k)][:32]
    return dg.MaterializeResult(
        metadata={
            "images": len(result.kept),
            "counts": counts_md(result.kept),
            "duplicates": len(dups),
            "leakage": int((dups["kind"] == "leakage").sum()),
            "duplicate_kinds": table_md(kinds, ["kind", "images"]),
            "duplicate_table": table_md(dups, ["path", "kind", "duplicate_of", "distance"]),
            "duplicates_file": dg.MetadataValue.path(str(out / "duplicates.csv")),
            "phash_threshold": cfg.phash_threshold,
            "data_version": version,
            **preview(out / "ingested", pairs, out / "previews" / "duplicates.png",
                      "duplicate pairs (dropped, kept)"),
        },
        data_version=dg.DataVersion(version),
    )


@dg.asset(group_name="data", deps=[deduplicated_images], compute_kind="pandera")
def validated_manifest(context: dg.AssetExecutionContext, data_paths: DataPaths):
    """manifest.csv of prepared/, validated by the pandera schema (fails with a readable report)."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    try:
        manifest = validate_step(out, cfg)
    except ManifestValidationError as exc:
        raise dg.Failure(
            description=exc.report,
            metadata={"report": dg.MetadataValue.md(f"```\n{exc.report}\n```"),
                      "report_file": dg.MetadataValue.path(str(out / "validation_report.txt"))},
        ) from None
    version = data_version(manifest)
    context.log.info(f"manifest valid: {len(manifest)} images, data version {version}")
    return dg.MaterializeResult(
        metadata={
            "images": len(manifest),
            "counts": counts_md(manifest),
            "manifest": dg.MetadataValue.path(str(out / "manifest.csv")),
            "prepared_dir": dg.MetadataValue.path(str(out / "prepared")),
            "with_masks": int((manifest["mask_path"] != "").sum()),
            "data_version": version,
            **preview(out / "prepared", sample_paths(manifest), out / "previews" / "validated_manifest.png",
                      "prepared images (rows: testA, testB, trainA, trainB)"),
        },
        data_version=dg.DataVersion(version),
    )


def load_manifest(out: Path, name: str = "manifest.csv") -> pd.DataFrame:
    """A manifest written by the data assets (used by the checks)."""
    return read_table(out / name, MANIFEST_COLUMNS)
