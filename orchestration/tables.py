"""Tables as Dagster table metadata: records with a column schema, so the UI shows them sortable,
with types and constraints, instead of hand-written markdown.

The manifest's schema comes from its pandera model (spagan.data.schema.manifest_column_specs);
the other tables (counts, reasons, duplicates, scores) get a schema from their columns.
"""

from typing import Any

import dagster as dg
import pandas as pd

from spagan.data.schema import manifest_column_specs

ROW_COUNT = "dagster/row_count"  # Dagster's standard metadata key for a table's size
MAX_ROWS = 50  # rows shown in the UI; the files hold them all


def _type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "string"


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def table(df: pd.DataFrame, columns: list[str] | None = None, *, schema: dg.TableSchema | None = None,
          max_rows: int = MAX_ROWS) -> dg.TableMetadataValue:
    """The first `max_rows` rows of some columns of `df` as table metadata (schema from the dtypes
    unless given)."""
    columns = list(columns or df.columns)
    shown = df[columns].head(max_rows)
    schema = schema or dg.TableSchema(columns=[dg.TableColumn(c, _type(df[c])) for c in columns])
    records = [dg.TableRecord({c: _cell(v) for c, v in zip(columns, row)}) for row in shown.itertuples(index=False)]
    return dg.MetadataValue.table(records=records, schema=schema)


def manifest_schema(columns: list[str] | None = None) -> dg.TableSchema:
    """The manifest's columns with the types and constraints of its pandera schema."""
    specs = [s for s in manifest_column_specs() if columns is None or s["name"] in columns]
    return dg.TableSchema(columns=[
        dg.TableColumn(str(s["name"]), str(s["type"]), constraints=dg.TableColumnConstraints(
            nullable=bool(s["nullable"]), unique=bool(s["unique"]), other=list(s["checks"])))
        for s in specs])


def manifest_table(manifest: pd.DataFrame, columns: list[str], max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """A manifest sample as table metadata with the pandera schema, and its row count."""
    return {"manifest_sample": table(manifest, columns, schema=manifest_schema(columns), max_rows=max_rows),
            ROW_COUNT: len(manifest)}


def counts_table(counts: pd.DataFrame) -> dg.TableMetadataValue:
    """Images per domain (rows) and split (columns) as a table: domain | train | test."""
    df = counts.rename_axis("domain").reset_index()
    return table(df, schema=dg.TableSchema(columns=[
        dg.TableColumn("domain", "string"), *(dg.TableColumn(str(c), "int") for c in counts.columns)]))
