"""The selection gate: what decides the published checkpoint, as one small file the train stage depends on.

With ``train.publish: best`` the evaluation during training picks the checkpoint that is
published, so its scoring code and the ``eval`` settings it scores with can change the published
weights; with ``publish: last`` they only draw the evaluation curve. DVC has no conditional
dependencies, so the DVC ``select`` stage (deps: the scoring code; params: train.publish, eval) writes
this file and the ``train`` stage depends on it:

    publish: last   {"publish": "last"}: the same bytes whatever the scoring code, so an edit to
                    it re-runs `select` (milliseconds) and leaves training untouched
    publish: best   the md5 of every code dep of `select` and the digest of the eval settings: an
                    edit to either changes the file, and training runs again under it

The Dagster code version of the model asset uses gate_md5 (what the file would hold now), so the
UI agrees with DVC (spagan.lineage.stage_version).
"""

import hashlib
import json
from pathlib import Path
from typing import Any

from spagan.config import Config
from spagan.core.fileio import atomic_write_bytes
from spagan.lineage.dvcfiles import stage_dep_md5s

GATE_STAGE = "select"
GATE_FILE = "runs/selection_gate.json"  # the select stage's output, a dep of train (dvc.yaml)


def gate_record(repo: str | Path, cfg: Config) -> dict[str, Any]:
    """What the gate file holds for `cfg` with the select stage's code as it is in `repo` now."""
    if cfg.train.publish != "best":
        return {"publish": cfg.train.publish}
    return {"publish": "best", "code": stage_dep_md5s(repo, GATE_STAGE), "eval": cfg.digest("eval")}


def gate_bytes(repo: str | Path, cfg: Config) -> bytes:
    """The gate file's exact bytes (sorted keys: the same record, the same md5)."""
    return (json.dumps(gate_record(repo, cfg), indent=2, sort_keys=True) + "\n").encode()


def gate_md5(repo: str | Path, cfg: Config) -> str:
    """The md5 DVC would record for the gate file written now."""
    return hashlib.md5(gate_bytes(repo, cfg)).hexdigest()  # DVC 3: a file's md5 is its bytes' md5


def write_gate(repo: str | Path, cfg: Config, out: str | Path) -> dict[str, Any]:
    """Write the gate file atomically; returns its record."""
    atomic_write_bytes(Path(out), gate_bytes(repo, cfg))
    return gate_record(repo, cfg)
