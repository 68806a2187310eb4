"""The image manifest: column lists, CSV round-trip, and its pandera schema.

One row per usable image; like ``path``, ``mask_path`` and ``pair_path`` (its ground-truth mask
and its counterpart in the other domain, "" when none) are relative to the folder that holds
the images (``ingested/``, ``prepared/``).
``validate_manifest`` checks types, allowed values, hash formats, sizes, uniqueness, that both
domains are present in both splits and the minimum counts from params; all failures are
collected (lazy validation) and reported in one readable message that shows the offending rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from spagan.core.errors import SpaganError

MANIFEST_COLUMNS = [
    "path", "source_path", "domain", "split", "width", "height", "orig_mode", "orig_format",
    "bytes", "sha256", "phash", "mask_path", "pair_path",
]
QUARANTINE_COLUMNS = ["source_path", "split", "domain", "reason", "detail", "bytes", "sha256"]
DUPLICATE_COLUMNS = [
    "path", "source_path", "domain", "split", "kind", "duplicate_of", "duplicate_of_split", "distance", "kept",
]
# Values of the duplicates table's `kept` column: whether the listed image is in prepared/
# (data.dedupe: report keeps every image and only lists them; drop leaves them out).
KEPT, DROPPED = "yes", "no"
DOMAINS = ("A", "B")
SPLITS = ("train", "test")
_INT_COLUMNS = {"width", "height", "bytes", "distance"}


def read_table(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """Read a manifest/quarantine/duplicates CSV with stable dtypes (hashes stay strings)."""
    p = Path(path)
    if not p.is_file():
        raise SpaganError(f"{p}: table not found (run the previous step first)")
    dtypes = {c: ("int64" if c in _INT_COLUMNS else "str") for c in columns}
    df = pd.read_csv(p, dtype=dtypes, keep_default_na=False)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SpaganError(f"{p}: missing columns {', '.join(missing)}")
    return df[columns]


class ManifestModel(pa.DataFrameModel):
    """Static part of the manifest schema; `manifest_model` adds the checks that read params."""

    path: Series[str] = pa.Field(unique=True, str_matches=r"^(train|test)[AB]/[^/]+\.(png|jpg)$")
    source_path: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    domain: Series[str] = pa.Field(isin=list(DOMAINS))
    split: Series[str] = pa.Field(isin=list(SPLITS))
    width: Series[int] = pa.Field(ge=1)
    height: Series[int] = pa.Field(ge=1)
    orig_mode: Series[str] = pa.Field(str_length={"min_value": 1})
    orig_format: Series[str]
    bytes: Series[int] = pa.Field(gt=0)
    sha256: Series[str] = pa.Field(unique=True, str_matches=r"^[0-9a-f]{64}$")
    phash: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{16}$")
    mask_path: Series[str]  # "" when the image has no ground-truth mask
    pair_path: Series[str]  # "" when it has no counterpart in the other domain

    class Config:
        strict = True  # no unexpected columns
        ordered = True

    @pa.dataframe_check(error="path folder does not match split and domain")
    def path_matches_split(cls, df: pd.DataFrame) -> Series[bool]:
        return df["path"].str.split("/").str[0] == df["split"] + df["domain"]


class _CopiesAllowed(ManifestModel):
    """The manifest of a source kept whole: exact copies share a sha256."""

    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$")


def manifest_model(min_size: int, min_images_per_split: int, *, unique_content: bool = True) -> type[ManifestModel]:
    """The manifest schema with the limits from params (data.min_size, data.min_images_per_split).
    `unique_content` False admits byte-identical images (data.dedupe: report keeps a source's exact
    copies, listed in duplicates.csv)."""

    class Manifest(ManifestModel if unique_content else _CopiesAllowed):
        @pa.dataframe_check(error=f"image side smaller than data.min_size={min_size}")
        def large_enough(cls, df: pd.DataFrame) -> Series[bool]:
            return (df["width"] >= min_size) & (df["height"] >= min_size)

        @pa.dataframe_check(
            error=f"every domain (A, B) needs at least data.min_images_per_split={min_images_per_split} "
            "images in every split (train, test)"
        )
        def enough_per_split(cls, df: pd.DataFrame) -> bool:
            return bool((count_table(df).to_numpy() >= min_images_per_split).all())

    return Manifest


def count_table(df: pd.DataFrame) -> pd.DataFrame:
    """Images per domain (rows A, B) and split (columns train, test), zeros included."""
    if df.empty:
        return pd.DataFrame(0, index=list(DOMAINS), columns=list(SPLITS))
    counts = df.groupby(["domain", "split"]).size().unstack(fill_value=0)
    return counts.reindex(index=list(DOMAINS), columns=list(SPLITS), fill_value=0).astype(int)


class ManifestValidationError(SpaganError):
    """The manifest failed validation; `report` is the readable text, `failure_cases` pandera's table."""

    def __init__(self, report: str, failure_cases: pd.DataFrame) -> None:
        super().__init__(report)
        self.report = report
        self.failure_cases = failure_cases


def format_failures(df: pd.DataFrame, failure_cases: pd.DataFrame, *, max_rows: int = 10) -> str:
    """Readable report: one block per failed check with the offending rows (at most `max_rows`)."""
    lines = [f"manifest validation failed ({len(failure_cases)} failure cases):"]
    base = [c for c in ("path", "source_path", "domain", "split") if c in df.columns]
    for (context, column, check), group in failure_cases.groupby(
        ["schema_context", "column", "check"], sort=False, dropna=False
    ):
        idx = [i for i in pd.unique(group["index"]) if i is not None and not pd.isna(i) and i in df.index]
        on_column = context == "Column"
        what = f"column {column!r} fails {check}" if on_column else f"check failed: {check}"
        lines.append(f"- {what}" + (f" ({len(idx)} rows)" if idx else ""))
        if idx:
            show = base + ([column] if on_column and column in df.columns and column not in base else [])
            rows = df.loc[idx[:max_rows], show]
            lines.extend("    " + ln for ln in rows.to_string().splitlines())
            if len(idx) > max_rows:
                lines.append(f"    ... and {len(idx) - max_rows} more")
        elif on_column:
            lines.append("    failure cases: " + ", ".join(map(str, group["failure_case"].head(max_rows))))
    lines.append("images per domain and split:")
    lines.extend("    " + ln for ln in count_table(df).to_string().splitlines())
    return "\n".join(lines)


def validate_manifest(
    df: pd.DataFrame, *, min_size: int, min_images_per_split: int, unique_content: bool = True
) -> pd.DataFrame:
    """Validate lazily; returns `df` or raises ManifestValidationError listing every failure
    (`unique_content`: see manifest_model)."""
    model = manifest_model(min_size, min_images_per_split, unique_content=unique_content)
    try:
        return model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        # Row-wise dataframe checks report one case per cell: keep one per (check, row).
        cases = cases.drop_duplicates(subset=["check", "index"]) if "index" in cases else cases
        raise ManifestValidationError(format_failures(df, cases), cases) from None


def manifest_column_specs() -> list[dict[str, object]]:
    """Every manifest column as the pandera schema states it: {"name", "type", "unique",
    "nullable", "checks": ["isin(['A', 'B'])", ...]} (what a table viewer shows as the schema)."""
    specs = []
    for name, column in ManifestModel.to_schema().columns.items():
        checks = [f"{c.name}({', '.join(repr(v) for v in (c.statistics or {}).values())})" for c in column.checks]
        dtype = str(column.dtype)
        specs.append({"name": name, "type": "int" if dtype.startswith("int") else "string",
                      "unique": bool(column.unique), "nullable": bool(column.nullable), "checks": checks})
    return specs
