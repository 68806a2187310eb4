"""Small previews of an image set: a contact sheet and a markdown table (for reports and UIs)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw


def contact_sheet(paths: Sequence[str | Path], *, tile: int = 64, cols: int = 8) -> Image.Image:
    """Thumbnails of `paths` in a grid (unreadable files become grey tiles)."""
    rows = max(1, -(-len(paths) // cols))
    sheet = Image.new("RGB", (cols * tile, rows * tile), (40, 40, 40))
    for k, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                thumb = im.convert("RGB").resize((tile, tile), Image.Resampling.BILINEAR)
        except OSError:
            thumb = Image.new("RGB", (tile, tile), (128, 128, 128))
            ImageDraw.Draw(thumb).line((0, 0, tile, tile), fill=(200, 0, 0), width=2)
        sheet.paste(thumb, ((k % cols) * tile, (k // cols) * tile))
    return sheet


def png_base64(im: Image.Image) -> str:
    """The image encoded as PNG, in base64 (Dagster has no image metadata type)."""
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def png_data_uri(im: Image.Image) -> str:
    """The image as a ``data:image/png;base64,...`` URI (for markdown metadata)."""
    return "data:image/png;base64," + png_base64(im)


def markdown_table(df: pd.DataFrame, *, max_rows: int = 20, index: bool = False) -> str:
    """A GitHub-style markdown table of the first `max_rows` rows (no tabulate dependency)."""
    shown = df.head(max_rows).reset_index() if index else df.head(max_rows)
    cols = [str(c) for c in shown.columns]
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    if len(df) > max_rows:
        lines.append(f"\n... {len(df) - max_rows} more rows")
    return "\n".join(lines)


def thumbnail_base64(path: str | Path, max_side: int = 256) -> str:
    """A base64 PNG of the image at `path`, shrunk to fit max_side x max_side (aspect kept)."""
    with Image.open(path) as im:
        thumb = im.convert("RGB")
    thumb.thumbnail((max_side, max_side), Image.LANCZOS)
    return png_base64(thumb)


def markdown_image(path: str | Path, alt: str = "gallery", max_side: int = 256) -> str:
    """Markdown embedding the image inline as a data URI (for Dagster's MetadataValue.md)."""
    return f"![{alt}](data:image/png;base64,{thumbnail_base64(path, max_side)})"
