"""The source's splits against what preparation kept and what an evaluation scores.

A benchmark's score is comparable with published ones only on its official test split. Prepare
leaves a test image out only when data.dedupe: drop drops it as a duplicate (unusable files are
quarantined and counted apart: no one can score them). This module counts, per domain and split,
the source's images next to the kept ones (summary.json's ``splits``), words the warning when
dedupe left test images out, and lets `spagan evaluate` compare the test folders it scores with
the source's test splits.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from spagan.core.imageio import list_images
from spagan.data.schema import DOMAINS, DROPPED, MANIFEST_COLUMNS, read_table

log = logging.getLogger(__name__)

SPLIT_NAMES = tuple(f"{s}{d}" for s in ("train", "test") for d in DOMAINS)  # trainA trainB testA testB
SHOW_NAMES = 5  # files named in a warning; the tables hold them all


def _per_split(df: pd.DataFrame) -> dict[str, int]:
    names = (df["split"] + df["domain"]).value_counts() if len(df) else pd.Series(dtype=int)
    return {name: int(names.get(name, 0)) for name in SPLIT_NAMES}


def split_counts(ingested: pd.DataFrame, quarantine: pd.DataFrame, kept: pd.DataFrame,
                 duplicates: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per split folder (trainA ... testB): ``source`` (the source's usable images), ``quarantined``
    (its files that are no usable image, beside them), ``duplicates`` (listed), ``dropped`` (listed
    and left out) and ``kept`` (images in prepared/: source - dropped)."""
    parts = {"source": _per_split(ingested), "quarantined": _per_split(quarantine),
             "duplicates": _per_split(duplicates),
             "dropped": _per_split(duplicates[duplicates["kept"] == DROPPED]), "kept": _per_split(kept)}
    return {name: {part: counts[name] for part, counts in parts.items()} for name in SPLIT_NAMES}


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:SHOW_NAMES])
    return shown + (f" and {len(paths) - SHOW_NAMES} more" if len(paths) > SHOW_NAMES else "")


def split_warnings(splits: dict[str, dict[str, int]], duplicates: pd.DataFrame, mode: str) -> list[str]:
    """One sentence per test split that kept fewer images than the source has (empty: every test
    split exact). Quarantined files are not images anyone can score, so they do not count here;
    quarantine.csv and the summary list them."""
    out = []
    for name in SPLIT_NAMES:
        c = splits[name]
        if not name.startswith("test") or c["kept"] == c["source"]:
            continue
        dropped = duplicates[(duplicates["split"] + duplicates["domain"] == name) & (duplicates["kept"] == DROPPED)]
        out.append(f"{name}: {c['kept']} of the source's {c['source']} test images kept, {len(dropped)} dropped as "
                   f"duplicates by data.dedupe={mode} ({_names(list(dropped['path']))}); scores on this test split "
                   "are not comparable with scores on the source's official one (data.dedupe: report keeps it whole)")
    return out


def _source_counts(prepared_root: Path) -> tuple[dict[str, int] | None, str]:
    """The source's usable images per split from summary.json (its ``splits``), else from the
    ingested manifest; and the file they came from ("" when neither exists)."""
    summary = prepared_root / "summary.json"
    if summary.is_file():
        try:
            splits = json.loads(summary.read_text(encoding="utf-8")).get("splits")
        except ValueError:
            splits = None
        if isinstance(splits, dict) and all(name in splits for name in SPLIT_NAMES):
            return {name: int(splits[name]["source"]) for name in SPLIT_NAMES}, str(summary)
    manifest = prepared_root / "ingested" / "manifest.csv"
    if manifest.is_file():
        return _per_split(read_table(manifest, MANIFEST_COLUMNS)), str(manifest)
    return None, ""


def check_test_split(data_dir: str | Path) -> dict[str, Any]:
    """Compare the test folders of `data_dir` (what evaluate scores: ``prepared/`` or any CycleGAN
    folder) with the source's test splits, read from the preparation beside it (`data_dir` itself
    or its parent: summary.json, else ingested/manifest.csv). Returns
    {"status": "same" | "differs" | "unknown", "testA": {"scored", "source"}, ..., "from", "warning"}
    and logs the warning when the split differs."""
    data_dir = Path(data_dir)
    scored = {name: len(list_images(data_dir / name)) if (data_dir / name).is_dir() else 0
              for name in SPLIT_NAMES if name.startswith("test")}
    for root in (data_dir, data_dir.parent):
        source, origin = _source_counts(root)
        if source is not None:
            break
    if source is None:
        return {"status": "unknown", "from": "",
                "reason": f"no summary.json or ingested/manifest.csv in {data_dir} or {data_dir.parent}",
                **{name: {"scored": n, "source": None} for name, n in scored.items()}}
    result: dict[str, Any] = {name: {"scored": n, "source": source[name]} for name, n in scored.items()}
    differs = [f"{name} {c['scored']} of {c['source']}" for name, c in result.items() if c["scored"] != c["source"]]
    result.update(status="differs" if differs else "same", **{"from": origin})
    if differs:
        result["warning"] = (f"the test split scored differs from the source's ({', '.join(differs)} images; counts "
                             f"from {origin}): these scores are not comparable with scores on the official split")
        log.warning("%s: %s", data_dir, result["warning"])
    return result

