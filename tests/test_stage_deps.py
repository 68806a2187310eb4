"""Every spagan module a DVC stage runs is among that stage's deps in dvc.yaml, so a code change
always re-runs the stages it affects (and the train stage's run stamp sees it).

The modules are what the stage commands really import: the shared project's first `dvc repro`
(tests/own_source_project.py) ran with PYTHONPROFILEIMPORTTIME=1, so each stage command wrote its
import log to stderr under DVC's "Running stage" line.
"""

import re
from pathlib import Path

import yaml

from tests.dvc_project import ROOT
from tests.own_source_project import IMPORT_LOG

IMPORTED = re.compile(r"^import time:.*\|\s+(spagan(?:\.\w+)*)\s*$")
STAGE = re.compile(r"^Running stage '(\w+)':")


def modules_by_stage(output: str) -> dict[str, set[str]]:
    """{stage: spagan modules imported by its commands} from a `dvc repro` log with import times."""
    found: dict[str, set[str]] = {}
    stage = None
    for line in output.splitlines():
        if m := STAGE.match(line):
            stage = m.group(1)
            found[stage] = set()
        elif (m := IMPORTED.match(line)) and stage:
            found[stage].add(m.group(1))
    return found


def module_file(module: str) -> str:
    """The repository path of a spagan module (a package is its __init__.py)."""
    path = Path(*module.split("."))
    return (path / "__init__.py").as_posix() if (ROOT / path).is_dir() else f"{path.as_posix()}.py"


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_every_module_a_stage_imports_is_one_of_its_deps(own_source_repo):
    out = (own_source_repo.parent / IMPORT_LOG).read_text()
    imported = modules_by_stage(out)
    assert set(imported) == {"prepare", "train", "evaluate"}, out[-3000:]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = {}
    for stage, modules in imported.items():
        assert "spagan.cli" in modules, f"{stage}: no import log"  # the log really was read
        deps = stages[stage]["deps"]
        missing[stage] = sorted(f for f in map(module_file, modules) if not covered(f, deps))
    assert missing == {"prepare": [], "train": [], "evaluate": []}, f"modules run but not in dvc.yaml deps: {missing}"
