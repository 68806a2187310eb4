"""The source's splits next to what preparation kept (summary.json's ``splits``).

A benchmark's score is comparable with published ones only on its official test split. Prepare
leaves a test image out only when data.dedupe: drop drops it as a duplicate (unusable files are
quarantined and counted apart: no one can score them). This module counts, per domain and split,
the source's images next to the kept ones and words the warning when dedupe left test images
out; spagan.evaluation.split_check compares the test folders an evaluation scores with them.
"""

from __future__ import annotations

import pandas as pd

from spagan.data.schema import DOMAINS, DROPPED

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
