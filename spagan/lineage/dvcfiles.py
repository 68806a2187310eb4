"""dvc.yaml and dvc.lock read as plain YAML: stage definitions, their deps and what the lock recorded.

The project never imports ``dvc`` (its hydra pins an antlr4 runtime that breaks Dagster, see the
README), yet training and lineage must know what a stage depends on and what the lock recorded.
Both files are documented YAML (DVC 3's md5s are recomputed in spagan.core.md5), so this module
reads them without DVC. Templated values (``${data.source}``) are resolved from params.yaml.
"""

import re
from pathlib import Path
from typing import Any

import yaml

from spagan.core.errors import SpaganError
from spagan.core.md5 import path_md5

RAW_DIR = "data/raw"  # the prepare stage's hashed dependency: where sources of one's own lie
_TEMPLATE = re.compile(r"\$\{([^}]*)\}")


def _resolve(text: str, params: dict[str, Any], where: str) -> str:
    """`${section.key}` in a dvc.yaml string replaced by its params.yaml value, as DVC does."""
    def value(match: re.Match) -> str:
        node: Any = params
        for part in match.group(1).strip().split("."):
            if not isinstance(node, dict) or part not in node:
                raise SpaganError(f"{where}: ${{{match.group(1)}}} is not in params.yaml")
            node = node[part]
        return str(node)

    return _TEMPLATE.sub(value, text)


def stage_definition(repo: str | Path, stage: str) -> dict[str, Any]:
    """One stage of `repo`/dvc.yaml as {"deps": [paths], "params": [section names]}, templates resolved."""
    repo = Path(repo)
    path = repo / "dvc.yaml"
    if not path.is_file():
        raise SpaganError(f"{path}: not found (the stage's dependencies are read from it)")
    stages = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages") or {}
    if stage not in stages:
        raise SpaganError(f"{path}: no stage {stage!r} (stages: {', '.join(stages)})")
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8")) if params_file.is_file() else {}
    entry = stages[stage]
    deps = [_resolve(str(d), params or {}, f"{path}: {stage}") for d in entry.get("deps") or []]
    sections: list[str] = []
    for item in entry.get("params") or []:
        if isinstance(item, dict):  # {params-file: [sections]}
            for names in item.values():
                sections.extend(names)
        else:
            sections.append(str(item))
    return {"deps": deps, "params": sections}


def stage_dep_md5s(repo: str | Path, stage: str) -> dict[str, str]:
    """{path: md5} of every dependency dvc.yaml lists for `stage`, hashed as DVC would now."""
    repo = Path(repo)
    return {dep: path_md5(repo / dep) for dep in stage_definition(repo, stage)["deps"]}


def read_stage_lock(lock_path: str | Path, stage: str) -> dict[str, Any]:
    """One stage of dvc.lock as {"cmd", "deps": {path: md5}, "outs": {path: md5}, "params": {...}}."""
    lock_path = Path(lock_path)
    if not lock_path.is_file():
        raise SpaganError(f"{lock_path}: not found (run `dvc repro` first)")
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    entry = (lock.get("stages") or {}).get(stage)
    if entry is None:
        raise SpaganError(f"{lock_path}: no stage {stage!r} (stages: {', '.join(lock.get('stages') or {})})")
    params: dict[str, Any] = {}
    for values in (entry.get("params") or {}).values():
        params.update(values)
    return {
        "cmd": entry.get("cmd"),
        "deps": {d["path"]: d.get("md5") for d in entry.get("deps") or []},
        "outs": {o["path"]: o.get("md5") for o in entry.get("outs") or []},
        "params": params,
    }


def dvc_tracked(path: str | Path) -> bool:
    """Whether `path` (or a folder above it) has a ``.dvc`` file beside it (`dvc add`, `dvc import-url`):
    then `dvc push` stores its bytes and `dvc pull` restores them on another clone."""
    path = Path(path).absolute()
    return any(p.with_name(p.name + ".dvc").is_file() for p in (path, *path.parents) if p.name)
