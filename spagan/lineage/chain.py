"""The pipeline's chain as dvc.lock records it: raw source -> prepared data -> model -> evaluation.

Each link is the output md5 of one stage and the md5 the next stage consumed; a link is "stale"
when they differ (a stage re-ran and the next one has not yet), so a model or a score is only
traced to raw bytes through links that agree.
"""

from pathlib import Path
from typing import Any

import yaml

from spagan.lineage.dvcfiles import RAW_DIR

# (stage, output path) of each link, and the stage that consumes that output next.
LINKS = (("prepare", "data/prepared", "train"), ("train", "models/spagan", "evaluate"))


def lock_chain(lock_path: str | Path) -> list[dict[str, Any]]:
    """[{"name", "path", "md5", "consumed_by", "ok"}] from raw to evaluation; stages missing from the
    lock are left out."""
    lock_path = Path(lock_path)
    stages = (yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}).get("stages") or {}

    def deps(stage: str) -> dict[str, str]:
        return {d["path"]: d.get("md5") for d in (stages.get(stage) or {}).get("deps") or []}

    def outs(stage: str) -> dict[str, str]:
        return {o["path"]: o.get("md5") for o in (stages.get(stage) or {}).get("outs") or []}

    chain = []
    if RAW_DIR in deps("prepare"):
        source = ((stages["prepare"].get("params") or {}).get("params.yaml") or {}).get("data", {}).get("source")
        chain.append({"name": "raw", "path": f"{RAW_DIR} (data.source={source or 'demo'})",
                      "md5": deps("prepare")[RAW_DIR], "consumed_by": "prepare", "ok": True})
    for stage, path, nxt in LINKS:
        if path in outs(stage):
            md5 = outs(stage)[path]
            used = deps(nxt).get(path)
            chain.append({"name": stage, "path": path, "md5": md5, "consumed_by": nxt if nxt in stages else None,
                          "ok": nxt not in stages or used == md5})
    for path, md5 in outs("evaluate").items():
        chain.append({"name": "evaluate", "path": path, "md5": md5, "consumed_by": None, "ok": True})
    return chain


def format_chain(chain: list[dict[str, Any]]) -> str:
    """One line per link: stage, output, md5, and whether the next stage used exactly it."""
    lines = []
    for link in chain:
        note = "" if link["consumed_by"] is None else (
            f"  -> {link['consumed_by']}" if link["ok"] else f"  STALE: {link['consumed_by']} used another version")
        lines.append(f"  {link['name']:<9} {link['path']}  {link['md5']}{note}")
    return "\n".join(lines)
