"""Asset checks of the data group: schema, leakage, balance, quarantine fraction."""

import dagster as dg

from orchestration.assets.data import DEDUPLICATED_IMAGES, RAW_IMAGES, VALIDATED_MANIFEST, load_manifest
from orchestration.assets.data_metadata import table_md
from orchestration.resources import DataPaths
from spagan.data.dedupe import leakage_pairs
from spagan.data.schema import (
    MANIFEST_COLUMNS,
    QUARANTINE_COLUMNS,
    ManifestValidationError,
    count_table,
    read_table,
    validate_manifest,
)


@dg.asset_check(asset=VALIDATED_MANIFEST, blocking=True)
def manifest_schema_valid(data_paths: DataPaths) -> dg.AssetCheckResult:
    """The stored manifest.csv passes the pandera schema (catches edits after materialization)."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    manifest = load_manifest(out)
    try:
        validate_manifest(manifest, min_size=cfg.min_size, min_images_per_split=cfg.min_images_per_split)
    except ManifestValidationError as exc:
        return dg.AssetCheckResult(passed=False, metadata={"report": dg.MetadataValue.md(f"```\n{exc.report}\n```")})
    return dg.AssetCheckResult(passed=True, metadata={"rows": len(manifest)})


@dg.asset_check(asset=DEDUPLICATED_IMAGES, blocking=True)
def no_train_test_leakage(data_paths: DataPaths) -> dg.AssetCheckResult:
    """No kept train image is within data.phash_threshold bits of a kept test image of its domain."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    pairs = leakage_pairs(load_manifest(out / "prepared"), cfg.phash_threshold)
    return dg.AssetCheckResult(
        passed=pairs.empty,
        metadata={"leaking_pairs": len(pairs), "phash_threshold": cfg.phash_threshold,
                  "pairs": table_md(pairs, ["domain", "train_path", "test_path", "distance"])},
    )


@dg.asset_check(asset=VALIDATED_MANIFEST)
def domains_balanced(data_paths: DataPaths) -> dg.AssetCheckResult:
    """Per split, the larger domain has at most data.balance_max_ratio times the images of the smaller."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    counts = count_table(load_manifest(out))
    ratios = {split: float(counts[split].max() / max(counts[split].min(), 1)) for split in counts.columns}
    worst = max(ratios.values())
    return dg.AssetCheckResult(
        passed=worst <= cfg.balance_max_ratio,
        metadata={"ratio_train": ratios["train"], "ratio_test": ratios["test"],
                  "max_ratio": cfg.balance_max_ratio},
    )


@dg.asset_check(asset=RAW_IMAGES)
def quarantine_fraction(data_paths: DataPaths) -> dg.AssetCheckResult:
    """Quarantined files are at most data.max_quarantine_fraction of all files in the source."""
    cfg, out = data_paths.data_config(), data_paths.out_dir()
    quarantine = read_table(out / "quarantine.csv", QUARANTINE_COLUMNS)
    ingested = read_table(out / "ingested" / "manifest.csv", MANIFEST_COLUMNS)
    total = len(quarantine) + len(ingested)
    fraction = len(quarantine) / total if total else 1.0
    return dg.AssetCheckResult(
        passed=fraction <= cfg.max_quarantine_fraction,
        metadata={"fraction": fraction, "quarantined": len(quarantine), "files": total,
                  "max_fraction": cfg.max_quarantine_fraction},
    )
