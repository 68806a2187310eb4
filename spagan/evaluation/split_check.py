"""Does the test split an evaluation scores equal the source's? (a benchmark's official split)

`spagan prepare` writes, per domain and split, the source's image count next to the kept one
(summary.json's ``splits``, spagan.data.splits). An evaluation of ``data/prepared`` reads them
beside the folder and compares them with the test images it is about to score; with
data.dedupe: drop, or a hand-edited folder, they may differ, and scores on a test split other
than the official one are not comparable with published ones. Only plain JSON and CSV are read
here, so the train and evaluate stages do not depend on the data package's code.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from spagan.core.imageio import list_images

log = logging.getLogger(__name__)

TEST_SPLITS = ("testA", "testB")


def _source_counts(root: Path) -> tuple[dict[str, int] | None, str]:
    """The source's usable test images per split from root/summary.json (its ``splits``), else
    counted in root/ingested/manifest.csv; and the file they came from (None, "" when neither)."""
    summary = root / "summary.json"
    if summary.is_file():
        try:
            splits = json.loads(summary.read_text(encoding="utf-8")).get("splits")
        except (ValueError, AttributeError):
            splits = None
        if isinstance(splits, dict) and all(isinstance(splits.get(name), dict) for name in TEST_SPLITS):
            return {name: int(splits[name]["source"]) for name in TEST_SPLITS}, str(summary)
    manifest = root / "ingested" / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as fh:
            counts = Counter(row["split"] + row["domain"] for row in csv.DictReader(fh))
        return {name: counts.get(name, 0) for name in TEST_SPLITS}, str(manifest)
    return None, ""


def check_test_split(data_dir: str | Path) -> dict[str, Any]:
    """Compare the test folders of `data_dir` (``prepared/`` or any CycleGAN folder) with the
    source's test splits, read from the preparation in `data_dir` or its parent (summary.json,
    else ingested/manifest.csv). Returns {"status": "same" | "differs" | "unknown", "testA":
    {"scored", "source"}, "testB": ..., "from", and "warning" or "reason"}; logs the warning."""
    data_dir = Path(data_dir)
    scored = {name: len(list_images(data_dir / name)) if (data_dir / name).is_dir() else 0 for name in TEST_SPLITS}
    source, origin = None, ""
    for root in (data_dir, data_dir.parent):
        source, origin = _source_counts(root)
        if source is not None:
            break
    if source is None:
        return {"status": "unknown", **{name: {"scored": n, "source": None} for name, n in scored.items()},
                "from": "", "reason": f"no summary.json or ingested/manifest.csv in {data_dir} or {data_dir.parent}"}
    result: dict[str, Any] = {name: {"scored": scored[name], "source": source[name]} for name in TEST_SPLITS}
    differs = [f"{name} {c['scored']} of {c['source']}" for name, c in result.items() if c["scored"] != c["source"]]
    result = {"status": "differs" if differs else "same", **result, "from": origin}
    if differs:
        result["warning"] = (f"the test split scored is not the source's ({', '.join(differs)} images; counts from "
                             f"{origin}): these scores are not comparable with scores on the official split "
                             "(data.dedupe: report keeps it whole)")
        log.warning("%s: %s", data_dir, result["warning"])
    return result
