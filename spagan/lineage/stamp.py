"""The stamp of a training work folder: exactly what the DVC stage depended on when it started.

The DVC ``train`` stage trains into a work folder that survives between runs, so that a killed
run resumes (``spagan train --resume auto``). That is only right when the run being resumed was
started under the stage's *current* dependencies: the same data, the same code files, the same
``model``/``train`` params. ``start_run`` compares a stamp of those dependencies (their md5s as
DVC computes them, read from dvc.yaml, so a dependency added there is covered at once) with the
stamp left by the run in the folder, and empties the folder unless the run is unfinished and
the stamps agree. A finished run is never resumed: DVC re-runs the stage only when something
changed or when asked to (``--force``), and either way the stage must train anew.
"""

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from spagan.config import Config
from spagan.core.fileio import atomic_write_bytes
from spagan.core.md5 import path_md5
from spagan.lineage.dvcfiles import stage_definition, stage_dep_md5s

log = logging.getLogger(__name__)

STAMP_NAME = "stage_stamp.json"  # in the work folder

# Modules a stage's commands run that cannot change what the stage makes (for `train`: the
# published weights), because they only draw, log or report. They are not DVC deps (an edit to
# them re-runs nothing) and not compared on resume, but their md5 is stamped under "watch_code",
# so lineage.json still records every file the run ran (the curves and previews of a run are the
# record of the run as it ran). tests/test_stage_deps.py checks that every module a stage imports
# is a dep or listed here, and that nothing listed here is a dep.
WATCH_CODE: dict[str, tuple[str, ...]] = {
    "train": (
        "spagan/core/chart.py",            # colours and axes of the curves picture
        "spagan/core/grid.py",             # tiles images into the preview grids
        "spagan/training/board.py",        # TensorBoard events
        "spagan/training/previews.py",     # preview grids (eval mode, no_grad, RNG forked)
        "spagan/training/watch.py",        # when to preview and log (tests/test_training_watch.py: same weights)
        "spagan/lineage/curves.py",        # the curves picture, the newest preview's file name
        "spagan/evaluation/gallery.py",    # the evaluate stage's gallery (imported, never run, by training's scoring)
        "spagan/evaluation/report.py",     # the evaluate stage's report names (metrics.json's file name)
    ),
}


def stage_stamp(repo: str | Path, stage: str, cfg: Config) -> dict[str, Any]:
    """{"stage", "deps": {path: md5}, "params": {section: digest}, "watch_code": {path: md5}} of
    `stage` as it stands now (watch_code: the WATCH_CODE files there are, for the record only)."""
    repo = Path(repo)
    sections = stage_definition(repo, stage)["params"]
    watch_code = {p: path_md5(repo / p) for p in WATCH_CODE.get(stage, ()) if (repo / p).is_file()}
    return {"stage": stage, "deps": stage_dep_md5s(repo, stage),
            "params": {s: cfg.digest(s) for s in sections if s in cfg.to_dict()}, "watch_code": watch_code}


def read_stamp(work_dir: str | Path) -> dict[str, Any] | None:
    """The stamp a work folder's run was started under, or None."""
    path = Path(work_dir) / STAMP_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _finished(work: Path) -> bool:
    metrics = work / "metrics.json"
    if not metrics.is_file():
        return False
    try:
        return bool(json.loads(metrics.read_text(encoding="utf-8")).get("finished"))
    except ValueError:
        return False


def _differences(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What changed between two stamps, as short phrases for the log."""
    if old is None:
        return ["no stamp"]
    changed = []
    for kind in ("deps", "params"):
        before, after = old.get(kind) or {}, new[kind]
        changed += [f"{kind[:-1] if kind == 'deps' else 'params'} {k}" for k in sorted(set(before) | set(after))
                    if before.get(k) != after.get(k)]
    return changed


def start_run(work_dir: str | Path, stamp: dict[str, Any]) -> str | None:
    """Get the work folder ready for `spagan train --resume auto` under `stamp`.

    Keeps an unfinished run started under the same stamp (it resumes); otherwise empties the
    folder. Returns why an earlier run was cleared, or None when nothing was cleared.
    """
    work = Path(work_dir)
    reason = None
    if work.exists() and any(p.name != STAMP_NAME for p in work.iterdir()):
        if _finished(work):
            reason = "its run had finished (a re-run of the stage trains anew)"
        elif changed := _differences(read_stamp(work), stamp):
            reason = "its run started under other dependencies: " + ", ".join(changed)
        if reason:
            log.info("%s: clearing, %s", work, reason)
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(work / STAMP_NAME, (json.dumps(stamp, indent=2, sort_keys=True) + "\n").encode())
    return reason
