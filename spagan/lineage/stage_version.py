"""A DVC stage's code version, as `dvc status` would judge it, and the raw source's version.

`dvc status` calls a stage changed when a code file it depends on, or a params section it reads,
differs from what dvc.lock recorded. The same judgement, as two short digests over the same
inputs, lets another tool (the Dagster code location) show a stage's outputs as stale exactly
when DVC would re-run the stage:

    stage_code_version(repo, stage)     the code deps and params sections as they are now
    locked_code_version(repo, stage)    the same, as dvc.lock recorded them for the last run

The two are equal when, and only when, DVC sees no change in the stage's code or params. A
stage's *code* deps are its deps that no stage outputs and that are not the raw source
(data/raw): data deps are versioned by the stages that make them, and the raw source has its
own version (raw_source_version / locked_raw_source_version: the md5 DVC records for data/raw
and the data.source it names). The one output of a stage that counts as code is the selection
gate (spagan.lineage.gate), which the train stage depends on: its version is the md5 the gate file
would have if the select stage ran now, so the model is stale exactly when DVC would retrain.
"""

from pathlib import Path
from typing import Any

import yaml

from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.core.fileio import json_digest
from spagan.core.md5 import path_md5
from spagan.lineage.dvcfiles import RAW_DIR, read_stage_lock, stage_definition
from spagan.lineage.gate import GATE_FILE, gate_md5


def _stage_outs(repo: Path) -> set[str]:
    """Every path any stage of dvc.yaml outputs."""
    stages = (yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8")) or {}).get("stages") or {}
    outs: set[str] = set()
    for entry in stages.values():
        for out in entry.get("outs") or []:
            outs.add(next(iter(out)) if isinstance(out, dict) else str(out))
    return outs


def stage_code_deps(repo: str | Path, stage: str) -> list[str]:
    """The deps of `stage` in dvc.yaml that are code: not an output of a stage, not the raw source."""
    repo = Path(repo)
    made = _stage_outs(repo) | {RAW_DIR}
    return [d for d in stage_definition(repo, stage)["deps"] if d not in made]


def _params_sections(repo: Path, sections: list[str]) -> dict[str, Any]:
    """{name: value} of the params a stage lists: a section (`train`) or one key (`train.publish`)."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    found: dict[str, Any] = {}
    for name in sections:
        node: Any = params or {}
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        found[name] = node
    return found


def _version(code: dict[str, str | None], params: dict[str, Any]) -> str:
    return json_digest({"code": code, "params": params})


def stage_code_version(repo: str | Path, stage: str) -> str:
    """Digest of the md5 (as DVC hashes it) of every code dep of `stage` and of the params sections
    it reads, as they are on disk now. SpaganError when dvc.yaml or a dep is missing."""
    repo = Path(repo)
    code = {d: path_md5(repo / d) for d in stage_code_deps(repo, stage)}
    if GATE_FILE in stage_definition(repo, stage)["deps"]:  # what the select stage would write now
        code[GATE_FILE] = gate_md5(repo, load_config(repo / "params.yaml"))
    return _version(code, _params_sections(repo, stage_definition(repo, stage)["params"]))


def locked_code_version(repo: str | Path, stage: str) -> str:
    """The same digest from what dvc.lock recorded for the stage's last run (equal to
    stage_code_version exactly when DVC sees no change in its code and params)."""
    repo = Path(repo)
    lock = read_stage_lock(repo / "dvc.lock", stage)
    code = {d: lock["deps"].get(d) for d in stage_code_deps(repo, stage)}
    if GATE_FILE in stage_definition(repo, stage)["deps"]:
        code[GATE_FILE] = lock["deps"].get(GATE_FILE)
    sections = stage_definition(repo, stage)["params"]
    return _version(code, {s: lock["params"].get(s) for s in sections})


def raw_source_version(repo: str | Path) -> str:
    """The raw source's version now: DVC's md5 of data/raw (where a source of one's own lies) and the
    data.source that names the file or folder in it ("" = the demo domains, made by code)."""
    repo = Path(repo)
    raw = repo / RAW_DIR
    if not raw.exists():
        raise SpaganError(f"{raw}: not found (the raw source folder; see data/raw/README.md)")
    source = (_params_sections(repo, ["data"])["data"] or {}).get("source", "")
    return json_digest({"raw_md5": path_md5(raw), "source": source})


def raw_source_signature(repo: str | Path) -> str:
    """A cheap stand-in for raw_source_version: the path, size and modification time of every file
    under data/raw and data.source, no bytes read. Unchanged signature, unchanged version (what a
    poller uses to skip re-hashing a large source, as DVC's own state cache does)."""
    repo = Path(repo)
    raw = repo / RAW_DIR
    stats = sorted((str(f.relative_to(raw)), f.stat().st_size, f.stat().st_mtime_ns)
                   for f in raw.rglob("*") if f.is_file()) if raw.is_dir() else []
    source = (_params_sections(repo, ["data"])["data"] or {}).get("source", "")
    return json_digest({"files": stats, "source": source})


def locked_raw_source_version(repo: str | Path, stage: str = "prepare") -> str:
    """The raw source's version as dvc.lock recorded it for the stage that prepared the data."""
    lock = read_stage_lock(Path(repo) / "dvc.lock", stage)
    source = (lock["params"].get("data") or {}).get("source", "")
    return json_digest({"raw_md5": lock["deps"].get(RAW_DIR), "source": source})
