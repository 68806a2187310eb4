"""Asset checks of the data group: schema, leakage, balance, quarantine fraction.

Every check runs on every version of the data, whichever front door made it: inside the run that
materializes the data, and (automation condition `eager`, evaluated by the `automation` sensor)
on every materialization the dvc.lock sensor records after a `dvc repro` from a shell. Each
result names the data version it checked; a check that cannot run (a table missing) fails and
says why instead of raising.
"""

import json

import dagster as dg

from orchestration.assets.data import DEDUPLICATED_IMAGES, RAW_IMAGES, VALIDATED_MANIFEST, load_manifest
from orchestration.resources import DataPaths
from orchestration.tables import table
from spagan.core.errors import SpaganError
from spagan.data.dedupe import leakage_pairs
from spagan.data.schema import (
    MANIFEST_COLUMNS,
    QUARANTINE_COLUMNS,
    ManifestValidationError,
    count_table,
    read_table,
    validate_manifest,
)

# Run on every new materialization, also those recorded without a run (the dvc.lock sensor's);
# a run that materializes the asset runs its checks itself, and eager skips those.
EVERY_VERSION = dg.AutomationCondition.eager()


def checked_version(data_paths: DataPaths) -> dict[str, str]:
    """The data version the files on disk are (summary.json), for a check result's metadata."""
    path = data_paths.out_dir() / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"data_version": f"unknown ({path}: {exc})"}
    return {"data_version": str(summary.get("data_version")), "raw_version": str(summary.get("raw_version"))}


def cannot_run(exc: Exception, data_paths: DataPaths) -> dg.AssetCheckResult:
    """The result of a check whose inputs are missing or unreadable: failed, with the reason."""
    return dg.AssetCheckResult(passed=False, description=f"cannot run: {exc}",
                               metadata={"cannot_run": str(exc), **checked_version(data_paths)})


@dg.asset_check(asset=VALIDATED_MANIFEST, blocking=True, automation_condition=EVERY_VERSION)
def manifest_schema_valid(data_paths: DataPaths) -> dg.AssetCheckResult:
    """The stored manifest.csv passes the pandera schema (catches edits after materialization)."""
    try:
        cfg, out = data_paths.data_config(), data_paths.out_dir()
        manifest = load_manifest(out)
    except SpaganError as exc:
        return cannot_run(exc, data_paths)
    try:
        validate_manifest(manifest, min_size=cfg.min_size, min_images_per_split=cfg.min_images_per_split,
                          unique_content=cfg.dedupe == "drop")
    except ManifestValidationError as exc:
        return dg.AssetCheckResult(passed=False, metadata={"report": dg.MetadataValue.md(f"```\n{exc.report}\n```"),
                                                           **checked_version(data_paths)})
    return dg.AssetCheckResult(passed=True, metadata={"rows": len(manifest), **checked_version(data_paths)})


@dg.asset_check(asset=DEDUPLICATED_IMAGES, blocking=True, automation_condition=EVERY_VERSION)
def no_train_test_leakage(data_paths: DataPaths) -> dg.AssetCheckResult:
    """No kept train image is within data.phash_threshold bits of a kept test image of its domain.
    With data.dedupe: report the source is kept whole on purpose (a benchmark), so leaks fail as a
    warning that names them and does not block training; with drop they are an error."""
    try:
        cfg, out = data_paths.data_config(), data_paths.out_dir()
        pairs = leakage_pairs(load_manifest(out / "prepared"), cfg.phash_threshold)
    except SpaganError as exc:
        return cannot_run(exc, data_paths)
    report = cfg.dedupe == "report"
    return dg.AssetCheckResult(
        passed=pairs.empty,
        severity=dg.AssetCheckSeverity.WARN if report else dg.AssetCheckSeverity.ERROR,
        description=None if pairs.empty or not report else
        f"{len(pairs)} train/test pairs kept as the source has them (data.dedupe: report; duplicates.csv lists them)",
        metadata={"leaking_pairs": len(pairs), "phash_threshold": cfg.phash_threshold,
                  "pairs": table(pairs, ["domain", "train_path", "test_path", "distance"]),
                  **checked_version(data_paths)},
    )


@dg.asset_check(asset=VALIDATED_MANIFEST, automation_condition=EVERY_VERSION)
def domains_balanced(data_paths: DataPaths) -> dg.AssetCheckResult:
    """Per split, the larger domain has at most data.balance_max_ratio times the images of the smaller."""
    try:
        cfg, out = data_paths.data_config(), data_paths.out_dir()
        counts = count_table(load_manifest(out))
    except SpaganError as exc:
        return cannot_run(exc, data_paths)
    ratios = {split: float(counts[split].max() / max(counts[split].min(), 1)) for split in counts.columns}
    worst = max(ratios.values())
    return dg.AssetCheckResult(
        passed=worst <= cfg.balance_max_ratio,
        metadata={"ratio_train": ratios["train"], "ratio_test": ratios["test"],
                  "max_ratio": cfg.balance_max_ratio, **checked_version(data_paths)},
    )


@dg.asset_check(asset=RAW_IMAGES, automation_condition=EVERY_VERSION)
def quarantine_fraction(data_paths: DataPaths) -> dg.AssetCheckResult:
    """Quarantined files are at most data.max_quarantine_fraction of all files in the source."""
    try:
        cfg, out = data_paths.data_config(), data_paths.out_dir()
        quarantine = read_table(out / "quarantine.csv", QUARANTINE_COLUMNS)
        ingested = read_table(out / "ingested" / "manifest.csv", MANIFEST_COLUMNS)
    except SpaganError as exc:
        return cannot_run(exc, data_paths)
    total = len(quarantine) + len(ingested)
    fraction = len(quarantine) / total if total else 1.0
    return dg.AssetCheckResult(
        passed=fraction <= cfg.max_quarantine_fraction,
        description=None if fraction <= cfg.max_quarantine_fraction else
        f"{len(quarantine)} of {total} files quarantined ({fraction:.1%} > data.max_quarantine_fraction "
        f"{cfg.max_quarantine_fraction:.1%})",
        metadata={"fraction": fraction, "quarantined": len(quarantine), "files": total,
                  "max_fraction": cfg.max_quarantine_fraction, **checked_version(data_paths)},
    )
