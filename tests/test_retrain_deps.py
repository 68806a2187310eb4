"""The train stage re-runs exactly when the published weights can change (issue 31), judged by a
real `dvc status` in a project copy, without training: dvc.lock is written by `dvc commit` over
placeholder outputs, so the test takes seconds. Edits that only draw, log or report (a comment in
the gallery, chart, report and preview code; every watch key) leave train unchanged; edits that
can change the weights (a loss, the generator, the data augmentation, train.lambda_cyc,
model.ngf, a seed) mark it changed. The scoring code of evaluation during training retrains only
when it picks the published checkpoint (train.publish: best), through the select stage's gate.
The Dagster code versions (spagan.lineage.stage_version, what orchestration/provenance.py gives
each asset) agree with DVC on every edit."""

import json
from pathlib import Path

import yaml

from spagan.lineage.stage_version import locked_code_version, stage_code_version
from tests.dvc_project import dvc, make_project, set_params

# Edits that cannot change the weights: a comment in code that only draws, logs or reports.
COSMETIC_CODE = ("spagan/evaluation/gallery.py", "spagan/core/chart.py", "spagan/evaluation/report.py",
                 "spagan/training/previews.py", "spagan/training/board.py", "spagan/lineage/curves.py")
WATCH_EDITS = {"watch": {"preview_every": 500, "preview_images": 2, "preview_keep": 3, "tensorboard": False,
                         "log_every": 5, "checkpoint_every": 7}}
# Edits that can: a loss, the generator, the data augmentation.
WEIGHT_CODE = ("spagan/training/losses.py", "spagan/models/generator.py", "spagan/training/dataset.py")


SCORING = "spagan/evaluation/training_eval.py"  # scores evaluation during training (a select stage dep)


def _commit_placeholders(repo: Path) -> None:
    """dvc.lock as if every stage had run on the files as they are: the selection gate really
    written (milliseconds), placeholders for every other output, `dvc commit`."""
    dvc(repo, "repro", "select")
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for entry in stages.values():
        for out in [*(entry.get("outs") or []), *(entry.get("metrics") or [])]:
            path = repo / (next(iter(out)) if isinstance(out, dict) else out)
            if path.exists():
                continue
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}\n")
            else:
                path.mkdir(parents=True, exist_ok=True)
                (path / "placeholder.txt").write_text("placeholder\n")
    dvc(repo, "commit", "--force")


def _status(repo: Path) -> dict:
    """{stage: what changed} as `dvc status --json` says it."""
    return json.loads(dvc(repo, "status", "--json").stdout or "{}")


def _changed_deps(status: dict, stage: str) -> dict:
    found: dict = {}
    for item in status.get(stage, []):
        if isinstance(item, dict):
            found.update(item.get("changed deps", {}))
    return found


def _up_to_date(repo: Path, stage: str) -> bool:
    return stage_code_version(repo, stage) == locked_code_version(repo, stage)


def _append(repo: Path, rel: str, text: str) -> str:
    path = repo / rel
    original = path.read_text()
    path.write_text(original + text)
    return original


def test_train_reruns_exactly_when_the_weights_can_change(tmp_path):
    repo = make_project(tmp_path)
    _commit_placeholders(repo)
    assert _status(repo) == {}
    assert all(_up_to_date(repo, s) for s in ("prepare", "train", "evaluate"))
    params = (repo / "params.yaml").read_text()

    # Cosmetic code, every watch key and (train.publish: last) the scoring code: train unchanged,
    # for DVC and for Dagster; the gallery comment re-runs evaluate, the scoring code the gate.
    originals = {rel: _append(repo, rel, "\n# a cosmetic comment\n") for rel in (*COSMETIC_CODE, SCORING)}
    set_params(repo, WATCH_EDITS)
    status = _status(repo)
    assert "train" not in status and SCORING in _changed_deps(status, "select"), status
    assert "spagan/evaluation" in _changed_deps(status, "evaluate"), status
    assert _up_to_date(repo, "train") and not _up_to_date(repo, "evaluate")
    dvc(repo, "repro", "select")  # the gate re-written: the same bytes, so still nothing to retrain
    assert "train" not in _status(repo) and _up_to_date(repo, "train")
    for rel, text in originals.items():
        (repo / rel).write_text(text)
    (repo / "params.yaml").write_text(params)

    # Weight code (each file named) and model.ngf: train changed, for both.
    originals = {rel: _append(repo, rel, "\n_WEIGHT_EDIT = 1.5\n") for rel in WEIGHT_CODE}
    set_params(repo, {"model": {"ngf": 12}})
    changed = _changed_deps(_status(repo), "train")
    assert all(any(rel == d or rel.startswith(d + "/") for d in changed) for rel in WEIGHT_CODE), changed
    assert "model" in changed.get("params.yaml", {}), changed
    assert not _up_to_date(repo, "train")
    for rel, text in originals.items():
        (repo / rel).write_text(text)
    (repo / "params.yaml").write_text(params)

    # A loss weight and a seed, one at a time (both are keys of the train section).
    for edit in ({"lambda_cyc": 5.0}, {"seed": 1}):
        set_params(repo, {"train": edit})
        changed = _changed_deps(_status(repo), "train")
        assert "train" in changed.get("params.yaml", {}), (edit, changed)
        assert not _up_to_date(repo, "train"), edit
        (repo / "params.yaml").write_text(params)
    assert _up_to_date(repo, "train")

    # With train.publish: best, the code that picks the published checkpoint: Dagster shows the
    # model stale at once; DVC re-writes the gate first, then sees training changed.
    set_params(repo, {"train": {"publish": "best", "eval_every": 1}})
    dvc(repo, "repro", "select")
    dvc(repo, "commit", "--force")
    assert _up_to_date(repo, "train")
    _append(repo, SCORING, "\n# scores differently\n")
    assert not _up_to_date(repo, "train")
    dvc(repo, "repro", "select")
    changed = _changed_deps(_status(repo), "train")
    assert "runs/selection_gate.json" in changed, changed
    assert not _up_to_date(repo, "train")

    # So does an eval setting it scores with (with publish: last it would re-run evaluate only).
    dvc(repo, "commit", "--force")
    assert _up_to_date(repo, "train")
    set_params(repo, {"eval": {"kid_subsets": 3}})
    assert not _up_to_date(repo, "train")
