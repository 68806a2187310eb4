"""Data assets (group ``data``): raw images -> deduplicated images -> validated manifest.

All three are made by one run of the DVC ``prepare`` stage (`dvc repro prepare`), so dvc.lock is
the one authority for the data whether it was prepared here or from a shell: the source is
``data.source`` in params.yaml (never a run config that could contradict it), and DVC hashes the
raw bytes. The assets then report what the stage wrote (counts, problems, previews) and the
md5s dvc.lock recorded (see orchestration.assets.data_metadata).
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.assets.data_metadata import PREPARE_STAGE, data_materializations
from orchestration.dvc_resource import DvcCli
from spagan.data.schema import MANIFEST_COLUMNS, read_table

RAW_IMAGES = dg.AssetKey("raw_images")
DEDUPLICATED_IMAGES = dg.AssetKey("deduplicated_images")
VALIDATED_MANIFEST = dg.AssetKey("validated_manifest")


@dg.multi_asset(
    name="prepared_data",
    specs=[
        dg.AssetSpec(RAW_IMAGES, group_name="data", kinds={"dvc"},
                     description="every usable image of data.source, normalised to RGB PNG; bad files "
                                 "quarantined with a reason (the raw bytes are a hashed DVC dependency)"),
        dg.AssetSpec(DEDUPLICATED_IMAGES, group_name="data", kinds={"dvc"}, deps=[RAW_IMAGES],
                     description="kept images in prepared/: exact and near duplicates and train copies of "
                                 "test images dropped"),
        dg.AssetSpec(VALIDATED_MANIFEST, group_name="data", kinds={"dvc", "pandera"}, deps=[DEDUPLICATED_IMAGES],
                     description="manifest.csv of prepared/, validated by the pandera schema"),
    ],
)
def prepared_data(context: dg.AssetExecutionContext, dvc: DvcCli):
    """`dvc repro prepare` (skipped by DVC when up to date), then what it wrote, as the lock names it."""
    try:
        dvc.repro(PREPARE_STAGE, context.log)
    except dg.Failure as exc:
        report = dvc.root() / "data" / "validation_report.txt"
        if report.is_file():  # validation failed: show the readable report, not only DVC's output
            text = report.read_text(encoding="utf-8")
            raise dg.Failure(description=text, metadata={"report": dg.MetadataValue.md(f"```\n{text}\n```"),
                                                         "report_file": dg.MetadataValue.path(str(report))}) from None
        raise exc
    for name, metadata, version in data_materializations(dvc.root()):
        yield dg.MaterializeResult(asset_key=dg.AssetKey(name), metadata=metadata, data_version=dg.DataVersion(version))


def load_manifest(out: Path, name: str = "manifest.csv") -> pd.DataFrame:
    """A manifest written by the prepare stage (used by the checks)."""
    return read_table(out / name, MANIFEST_COLUMNS)
