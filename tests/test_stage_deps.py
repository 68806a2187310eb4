"""Every spagan module a DVC stage runs is either among that stage's deps in dvc.yaml, so a code
change re-runs the stages it affects (and the train stage's run stamp sees it), or declared as code
that cannot change what the stage makes (spagan.lineage.stamp.WATCH_CODE: drawing, logging,
reporting), whose md5 the run's stamp and lineage.json still record.

The modules are what the stage commands really import: the shared project's first `dvc repro`
(tests/own_source_project.py) ran with PYTHONPROFILEIMPORTTIME=1, so each stage command wrote its
import log to stderr under DVC's "Running stage" line.
"""

import re
from pathlib import Path

import yaml

from spagan.lineage.gate import GATE_FILE, GATE_STAGE
from spagan.lineage.stamp import WATCH_CODE
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


# What a module declared as watch code may not do: anything that changes weights or optimiser state.
WEIGHT_CHANGING = re.compile(r"\.backward\(|torch\.optim|load_state_dict\(|\.step\(\)|requires_grad_\(True")


def test_watch_code_is_no_dep_and_changes_no_weights():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert WATCH_CODE["train"], "the train stage declares no watch code"
    for stage, paths in WATCH_CODE.items():
        deps = stages[stage]["deps"]
        for path in paths:
            assert (ROOT / path).is_file(), f"{stage}: watch code {path} does not exist"
            assert not covered(path, deps), f"{stage}: {path} is declared watch code, yet a dep in dvc.yaml"
            assert not WEIGHT_CHANGING.search((ROOT / path).read_text()), f"{path} looks like it trains"


def test_every_module_a_stage_imports_is_one_of_its_deps(own_source_repo):
    out = (own_source_repo.parent / IMPORT_LOG).read_text()
    imported = modules_by_stage(out)
    assert set(imported) == {"prepare", "select", "train", "evaluate"}, out[-3000:]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = {}
    for stage, modules in imported.items():
        assert "spagan.cli" in modules, f"{stage}: no import log"  # the log really was read
        deps = [*stages[stage]["deps"], *WATCH_CODE.get(stage, ())]
        if GATE_FILE in deps:  # the scoring code is a dep of training through the selection gate
            deps += stages[GATE_STAGE]["deps"]
        missing[stage] = sorted(f for f in map(module_file, modules) if not covered(f, deps))
    assert missing == {"prepare": [], "select": [], "train": [], "evaluate": []}, \
        f"modules run but neither in dvc.yaml deps nor WATCH_CODE: {missing}"
    assert "spagan.training.previews" in imported["train"]  # the watch code really is run (so really declared)
