"""Metadata the data assets show in the Dagster UI: counts, tables, a contact sheet."""

from pathlib import Path

import dagster as dg
import pandas as pd

from spagan.data.preview import contact_sheet, markdown_table, png_data_uri
from spagan.data.schema import count_table

PREVIEW_PER_FOLDER = 8  # thumbnails per split/domain in a preview


def counts_md(manifest: pd.DataFrame) -> dg.MetadataValue:
    """Images per domain and split as a markdown table."""
    return dg.MetadataValue.md(markdown_table(count_table(manifest).rename_axis("domain"), index=True))


def preview(images_root: Path, paths: list[str], sheet_file: Path, title: str) -> dict:
    """Contact sheet of `paths` (relative to images_root): embedded thumbnail + linked PNG file.

    Dagster has no image metadata type, so the sheet is a base64 PNG inside markdown.
    """
    sheet = contact_sheet([images_root / p for p in paths], tile=48, cols=PREVIEW_PER_FOLDER)
    sheet_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = sheet_file.with_name(f".{sheet_file.name}.tmp")
    sheet.save(tmp, format="PNG")
    tmp.replace(sheet_file)
    return {
        "preview": dg.MetadataValue.md(f"**{title}**\n\n![{title}]({png_data_uri(sheet)})"),
        "preview_file": dg.MetadataValue.path(str(sheet_file)),
    }


def sample_paths(manifest: pd.DataFrame) -> list[str]:
    """The first few images of every split/domain folder, in a stable order."""
    ordered = manifest.sort_values(["split", "domain", "path"], ascending=[False, True, True])
    return list(ordered.groupby(["split", "domain"], sort=False).head(PREVIEW_PER_FOLDER)["path"])


def table_md(df: pd.DataFrame, columns: list[str], max_rows: int = 30) -> dg.MetadataValue:
    """A markdown table of some columns (or a note when empty)."""
    if df.empty:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md(markdown_table(df[columns], max_rows=max_rows))
