"""Data assets (group ``data``): raw images -> deduplicated images -> validated manifest.

All three are made by one run of the DVC ``prepare`` stage (`dvc repro prepare`), so dvc.lock is
the one authority for the data whether it was prepared here or from a shell: the source is
``data.source`` in params.yaml (never a run config that could contradict it), and DVC hashes the
raw bytes. The assets then report what the stage wrote (counts, problems, previews) and the
md5s dvc.lock recorded (see orchestration.assets.data_metadata).

Upstream of them is ``raw_source``, an observable source asset whose data version is DVC's md5 of
data/raw and the data.source in it; the three carry the prepare stage's code version (its code
deps and the `data` params, orchestration.provenance), so a changed raw source, data code or
`data` params shows them stale, as `dvc status` shows the stage changed. The prepare step is in
the ``dvc`` pool: DVC-running steps queue there rather than wait on DVC's repository lock.
"""

import warnings
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.assets.data_metadata import PREPARE_STAGE, RAW_SOURCE_NAME, data_materializations
from orchestration.dvc_resource import DvcCli
from orchestration.provenance import definition_code_version
from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.data.schema import MANIFEST_COLUMNS, read_table
from spagan.lineage.dvcfiles import RAW_DIR
from spagan.lineage.stage_version import raw_source_version

DVC_POOL = "dvc"  # DVC-running steps queue here instead of waiting on DVC's repository lock
RAW_SOURCE = dg.AssetKey(RAW_SOURCE_NAME)
RAW_IMAGES = dg.AssetKey("raw_images")
DEDUPLICATED_IMAGES = dg.AssetKey("deduplicated_images")
VALIDATED_MANIFEST = dg.AssetKey("validated_manifest")


def _observe_raw_source(dvc: DvcCli) -> dg.ObserveResult:
    """The raw source's version as DVC would hash it now (the prepare stage's data/raw dependency)."""
    try:
        version = raw_source_version(dvc.root())
    except SpaganError as exc:
        raise dg.Failure(description=str(exc)) from None
    return dg.ObserveResult(data_version=dg.DataVersion(version), metadata=raw_source_metadata(dvc.root()))


with warnings.catch_warnings():  # observable source assets are "beta" in Dagster 1.13, and what we need
    warnings.simplefilter("ignore", dg.BetaWarning)
    raw_source = dg.observable_source_asset(
        name=RAW_SOURCE_NAME, group_name="data", tags={"dagster/kind/dvc": ""},
        description=f"the raw images: {RAW_DIR}/ and the data.source in it (\"\" = the demo domains, made by "
                    "code); its data version is DVC's md5 of them, so adding an image shows everything downstream "
                    "stale. Observed by the dvc_lock_sensor on every tick, or with 'Observe' in the UI.",
    )(_observe_raw_source)


def raw_source_metadata(repo: Path) -> dict:
    """What the raw source observation shows: where it is and what data.source names."""
    source = load_config(repo / "params.yaml").data.source
    return {"raw_dir": dg.MetadataValue.path(str(repo / RAW_DIR)), "source": source or "demo domains"}


_PREPARE_CODE = definition_code_version(PREPARE_STAGE)


@dg.multi_asset(
    name="prepared_data",
    pool=DVC_POOL,
    specs=[
        dg.AssetSpec(RAW_IMAGES, group_name="data", kinds={"dvc"}, deps=[RAW_SOURCE], code_version=_PREPARE_CODE,
                     description="every usable image of data.source, normalised to RGB PNG; bad files "
                                 "quarantined with a reason (the raw bytes are a hashed DVC dependency)"),
        dg.AssetSpec(DEDUPLICATED_IMAGES, group_name="data", kinds={"dvc"}, deps=[RAW_IMAGES],
                     code_version=_PREPARE_CODE,
                     description="kept images in prepared/: exact and near duplicates and train copies of "
                                 "test images listed in duplicates.csv, and dropped (data.dedupe: drop) or kept "
                                 "(report); the source's count beside the kept one per split"),
        dg.AssetSpec(VALIDATED_MANIFEST, group_name="data", kinds={"dvc", "pandera"}, deps=[DEDUPLICATED_IMAGES],
                     code_version=_PREPARE_CODE,
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
    for recorded in data_materializations(dvc.root()):
        yield recorded.result()


def load_manifest(out: Path, name: str = "manifest.csv") -> pd.DataFrame:
    """A manifest written by the prepare stage (used by the checks)."""
    return read_table(out / name, MANIFEST_COLUMNS)
