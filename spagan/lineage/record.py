"""Model lineage: which data, params, code and environment produced a model directory.

The DVC ``train`` stage trains into a work folder (kept between runs so a killed run resumes)
and then *publishes* the finished run into the model folder with ``publish_run``: the files are
swapped in whole, so a failed or killed training never touches the previous model, and the new
folder holds ``lineage.json``:

    data      data version (spagan's content digest), the DVC-compatible md5 of the manifest
              file and of the prepared-images folder (the values `dvc.lock` records for the deps),
              and the raw source they were prepared from (data.source and its md5)
    params    the `model` and `train` sections used, and their digest
    model     the published file (model.safetensors: the four networks and their config, no
              optimiser state), its sha256 and md5, steps trained, the run checkpoint it was
              converted from (file name, step) and the lineage digest that file's header also
              holds (see lineage_digest)
    code      the md5 of every code file the stage depends on when training started (from the
              work folder's stamp, see spagan.lineage.stamp) and their digest; the md5 of the
              files it also ran that only draw, log or report (watch_code: not deps, not in the
              digest); the git commit (and whether the work tree had uncommitted changes)
    runtime   device, python / torch / torchvision / numpy versions, host, time

The resumable training state (checkpoint.pt: optimisers, pools, RNG) stays in the work folder.
Format 2 model folders (before the weights-only file) held checkpoint.pt and `"checkpoint":
"checkpoint.pt"` in place of `"file"`; they still load (spagan.models.checkpoint.model_file).

Reading ``dvc.lock`` and ``params.yaml`` is plain YAML: this module never imports dvc, and it
imports torch only to publish.
"""

import csv
import io
import json
import logging
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from spagan.config import Config, ConfigError, config_from_dict
from spagan.config.rules import SELECTABLE
from spagan.core.errors import SpaganError
from spagan.core.fileio import file_mode, file_sha256, json_digest, make_temp_dir, replace_dir
from spagan.core.layout import (
    BEST_NAME,
    BEST_RECORD_NAME,
    CHECKPOINT_NAME,
    EVAL_CURVE_NAME,
    PUBLISHED_PREVIEW,
    WEIGHTS_NAME,
)
from spagan.core.md5 import dir_md5, file_md5
from spagan.lineage.curves import newest_preview
from spagan.lineage.dvcfiles import read_stage_lock
from spagan.lineage.stamp import read_stamp

log = logging.getLogger(__name__)

LINEAGE_NAME = "lineage.json"
CURVES_NAME = "loss_curves.csv"  # train_log.jsonl as CSV: DVC plots read CSV/JSON, not JSON lines
LINEAGE_FORMAT = 3  # 3: model.safetensors; 2: checkpoint.pt copied as it was
RUN_FILES = ("config.yaml", "train_log.jsonl", "metrics.json")  # copied from the run folder as they are
OPTIONAL_RUN_FILES: tuple[str, ...] = (EVAL_CURVE_NAME,)  # copied when the run has them
CURVE_COLUMNS = ("step", "epoch", "lr", "G", "G_gan", "cycle", "identity", "fm", "D_A", "D_B")


def git_state(repo: str | Path) -> dict[str, Any]:
    """{"commit": HEAD sha or None, "dirty": uncommitted changes to tracked files or None}."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    # Files DVC itself rewrites during `dvc repro` (dvc.lock, .gitignore entries) do not count.
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)dvc.lock",
                 ":(exclude,glob)**/.gitignore") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def library_versions() -> dict[str, str | None]:
    """Versions of the interpreter and the libraries a model's numbers depend on."""
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("spagan-pipeline", "torch", "torchvision", "numpy", "pillow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def data_facts(data_dir: str | Path, manifest: str | Path) -> dict[str, Any]:
    """The identity of the training data: DVC-compatible md5s and spagan's data version."""
    data_dir, manifest = Path(data_dir), Path(manifest)
    if not manifest.is_file():
        raise SpaganError(f"{manifest}: manifest not found (run `spagan prepare` or `dvc repro prepare`)")
    summary_path = manifest.parent / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return {
        "data_version": summary.get("data_version"),
        "images": summary.get("images"),
        "manifest": manifest.as_posix(),
        "manifest_md5": file_md5(manifest),
        "prepared": data_dir.as_posix(),
        "prepared_md5": dir_md5(data_dir),
        "source": summary.get("source"),
    }


def loss_curves_csv(log_path: str | Path) -> bytes:
    """train_log.jsonl as CSV (one row per logged step), the format `dvc plots` reads."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CURVE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for line in Path(log_path).read_text(encoding="utf-8").splitlines():
        try:
            writer.writerow(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash
    return out.getvalue().encode()


def code_facts(stamp: dict[str, Any] | None, data: dict[str, Any], repo: str | Path) -> dict[str, Any]:
    """The code that trained a run: md5s of the stage's non-data dependencies when it started
    (None when the run was not started by `spagan lineage start`), their digest, the git state."""
    deps = None
    if stamp is not None:
        data_paths = {data["manifest"], data["prepared"]}
        deps = {p: md5 for p, md5 in stamp["deps"].items() if p not in data_paths}
    # The files the run also ran that cannot change its weights (spagan.lineage.stamp.WATCH_CODE):
    # recorded, not part of the digest, so the pictures of a run name the code that drew them.
    watch_code = None if stamp is None else stamp.get("watch_code")
    return {"deps": deps, "digest": None if deps is None else json_digest(deps), "watch_code": watch_code,
            **git_state(repo)}


def lineage_digest(data: dict[str, Any], params_digest: str, code_digest: str | None) -> str:
    """16 hex digits naming what a model was trained from: the data version, the params digest
    (model + train sections) and the code digest (None outside the DVC stage). The published
    model.safetensors carries it in its header and lineage.json in its model section, so a weights
    file that has travelled without its folder still names the lineage record it belongs to."""
    return json_digest({"data_version": data.get("data_version"), "params": params_digest, "code": code_digest})


def build_lineage(cfg: Config, model_dir: str | Path, data: dict[str, Any], code: dict[str, Any],
                  source: dict[str, Any], selection: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lineage record of the model folder being published (see the module docstring):
    `model_dir` holds the run's metrics.json and the model.safetensors written from the run
    checkpoint `source` names ({"file": its name in the run folder, "step": the step it holds});
    `selection` says which checkpoint that is and why (see published_checkpoint)."""
    model_dir = Path(model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    weights = model_dir / WEIGHTS_NAME
    params_digest = cfg.digest("model", "train")
    return {
        "format": LINEAGE_FORMAT,
        "data": data,
        "params": {"model": cfg.to_dict()["model"], "train": cfg.to_dict()["train"], "digest": params_digest},
        "model": {"file": WEIGHTS_NAME, "sha256": file_sha256(weights), "md5": file_md5(weights),
                  "steps": source.get("step", metrics.get("steps")), "trained_steps": metrics.get("steps"),
                  "total_steps": metrics.get("total_steps"),
                  "source_checkpoint": source, "lineage_digest": lineage_digest(data, params_digest, code["digest"])},
        "selection": selection or {"published": "last", "why": "train.publish=last"},
        "code": code,
        "runtime": {"device": metrics.get("device"), "versions": library_versions(),
                    "host": platform.node(), "created": datetime.now(UTC).isoformat(timespec="seconds")},
    }


def published_checkpoint(run_dir: str | Path, cfg: Config) -> tuple[Path, dict[str, Any]]:
    """The run checkpoint `lineage publish` publishes, and why: train.publish=best picks best.pt
    (the best evaluation during training by select_by, see spagan.training.selection),
    falling back to the last checkpoint when no evaluation scored that measure; train.publish=last
    the run's checkpoint.pt (naming the best evaluation, if any, for information)."""
    run_dir, t = Path(run_dir), cfg.train
    curve = run_dir / EVAL_CURVE_NAME
    evaluations = max(0, len(curve.read_text(encoding="utf-8").splitlines()) - 1) if curve.is_file() else 0
    best = None
    if (run_dir / BEST_RECORD_NAME).is_file() and (run_dir / BEST_NAME).is_file():
        best = json.loads((run_dir / BEST_RECORD_NAME).read_text(encoding="utf-8"))
    mode = SELECTABLE[t.select_by]
    if best is not None and (best.get("select_by"), best.get("select_mode")) != (t.select_by, mode):
        best = None  # chosen by another measure: not this params' best
    selection: dict[str, Any] = {"select_by": t.select_by, "select_mode": mode, "evaluations": evaluations}
    if t.publish == "best" and best is not None:
        return run_dir / BEST_NAME, {**selection, "published": "best", "step": best["step"], "score": best["score"],
                                     "why": f"train.publish=best: the {mode} {t.select_by} of "
                                            f"{evaluations} evaluations during training",
                                     **_selected_on(best)}
    if t.publish == "best":
        why = f"train.publish=best, but no evaluation during training scored {t.select_by}: the last checkpoint"
        log.warning("%s: %s", run_dir, why)
    else:
        why = "train.publish=last"
    if best is not None:
        selection["best"] = {"step": best["step"], "score": best["score"], **_selected_on(best)}
    return run_dir / CHECKPOINT_NAME, {**selection, "published": "last", "why": why}


def _selected_on(best: dict[str, Any]) -> dict[str, Any]:
    """best.json's `selected_on` (the training images the choice was scored on: split, slice size,
    sha256 of the names), where the run recorded it."""
    return {"selected_on": best["selected_on"]} if "selected_on" in best else {}


def _check_finished(run_dir: Path, cfg: Config) -> None:
    metrics_path = run_dir / "metrics.json"
    ckpt = run_dir / CHECKPOINT_NAME
    if not ckpt.is_file() or not metrics_path.is_file():
        raise SpaganError(f"{run_dir}: no finished training run to publish ({ckpt.name}, metrics.json)")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    if not metrics.get("finished"):
        raise SpaganError(f"{run_dir}: training stopped at step {metrics.get('steps')} of "
                          f"{metrics.get('total_steps')}; not publishing an unfinished model")
    run_cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    for section in ("model", "train"):
        if run_cfg.get(section) != cfg.to_dict()[section]:
            raise SpaganError(f"{run_dir}: the run's {section} config differs from the params given")


def _write_weights(ckpt: Path, dest: Path, digest: str) -> dict[str, Any]:
    """The networks, config and step of training checkpoint `ckpt` as a model.safetensors at
    `dest`, with `digest` (lineage_digest) in its header; returns {"file", "step"} of `ckpt`."""
    from spagan.models.checkpoint import load_checkpoint  # torch: imported only to publish
    from spagan.models.weights import save_weights

    state = load_checkpoint(ckpt)
    save_weights(state["networks"], state["config"], dest, step=int(state["step"]),
                 extra_metadata={"lineage_digest": digest})
    return {"file": ckpt.name, "step": int(state["step"])}


def publish_run(
    cfg: Config, run_dir: str | Path, model_dir: str | Path, *, data_dir: str | Path, manifest: str | Path,
    repo: str | Path = ".",
) -> dict[str, Any]:
    """Publish a finished run into `model_dir`: model.safetensors (the networks of the run's
    checkpoint, no optimiser state), the run's RUN_FILES (and those OPTIONAL_RUN_FILES it has),
    loss_curves.csv and lineage.json, replacing the previous model folder only once the new one is
    complete. Returns the lineage record."""
    run_dir, model_dir = Path(run_dir), Path(model_dir)
    _check_finished(run_dir, cfg)
    data = data_facts(data_dir, manifest)
    code = code_facts(read_stamp(run_dir), data, repo)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = make_temp_dir(model_dir.parent, f".{model_dir.name}.new-")
    try:
        ckpt, selection = published_checkpoint(run_dir, cfg)
        source = _write_weights(ckpt, staging / WEIGHTS_NAME,
                                lineage_digest(data, cfg.digest("model", "train"), code["digest"]))
        for name in RUN_FILES + tuple(n for n in OPTIONAL_RUN_FILES if (run_dir / n).is_file()):
            shutil.copy2(run_dir / name, staging / name)  # copied: a later run appends to the log
        (staging / CURVES_NAME).write_bytes(loss_curves_csv(staging / "train_log.jsonl"))
        preview = newest_preview(run_dir)
        if preview is not None:  # the newest preview grid, for the Dagster UI and a quick look
            shutil.copy2(preview, staging / PUBLISHED_PREVIEW)
        lineage = build_lineage(cfg, staging, data, code, source, selection)
        (staging / LINEAGE_NAME).write_text(json.dumps(lineage, indent=2) + "\n", encoding="utf-8")
        mode = file_mode()
        for path in staging.iterdir():
            path.chmod(mode)  # copies keep the run's modes; a run from an older version may be private
        replace_dir(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("published %s (data version %s, model sha256 %s)", model_dir, data["data_version"],
             lineage["model"]["sha256"][:16])
    return lineage


def read_lineage(model_dir: str | Path) -> dict[str, Any]:
    """lineage.json of a model folder (or of the folder holding its model file), format 2 or 3."""
    path = Path(model_dir)
    if path.is_file():
        path = path.parent
    path = path / LINEAGE_NAME
    if not path.is_file():
        raise SpaganError(f"{path}: no lineage record (models are published by the DVC train stage)")
    return json.loads(path.read_text(encoding="utf-8"))


def compare_with_lock(lineage: dict[str, Any], stage_lock: dict[str, Any]) -> list[str]:
    """Disagreements between a model's lineage and the dvc.lock entry of the stage that made it
    (empty when the lock describes exactly this model's data and params)."""
    problems = []
    data = lineage["data"]
    for path_key, md5_key in (("manifest", "manifest_md5"), ("prepared", "prepared_md5")):
        locked = stage_lock["deps"].get(data[path_key])
        if locked is None:
            problems.append(f"dvc.lock has no dependency {data[path_key]}")
        elif locked != data[md5_key]:
            problems.append(f"{data[path_key]}: lineage md5 {data[md5_key]} != dvc.lock {locked}")
    for section in ("model", "train"):
        locked = stage_lock["params"].get(section)
        if locked is not None and _typed_section(section, stage_lock["params"]) != lineage["params"][section]:
            problems.append(f"params section {section!r} differs from dvc.lock")
    return problems + _code_problems(lineage, stage_lock)


def _code_problems(lineage: dict[str, Any], stage_lock: dict[str, Any]) -> list[str]:
    """Code files whose md5 at training time differs from the one dvc.lock records for the stage."""
    trained_with = lineage["code"].get("deps")
    if trained_with is None:
        return ["lineage.json records no code digest (the model was not trained by the DVC stage as it is now): "
                "retrain with `dvc repro --force train`"]
    data_paths = {lineage["data"]["manifest"], lineage["data"]["prepared"]}
    problems = []
    for path in sorted(set(trained_with) | (set(stage_lock["deps"]) - data_paths)):
        used, locked = trained_with.get(path), stage_lock["deps"].get(path)
        if used is None:
            problems.append(f"{path}: a dependency in dvc.lock, but not of the run that trained the model")
        elif locked is None:
            problems.append(f"dvc.lock has no dependency {path}")
        elif used != locked:
            problems.append(f"{path}: trained with md5 {used}, dvc.lock records {locked}")
    return problems


def _typed_section(section: str, locked: dict[str, Any]) -> Any:
    """A params section as dvc.lock stores it (raw YAML: `on` is a boolean there) read through the
    typed loader, as the lineage record stores it; the raw value when it does not load. The model
    and train sections are read together: `model.n_layers_d: auto` resolves at train.image_size."""
    raw = {s: locked[s] for s in ("model", "train") if s in locked and isinstance(locked[s], dict)}
    try:
        return config_from_dict({**raw, section: locked[section]}).to_dict()[section]
    except ConfigError:
        return locked[section]


def lineage_summary(lineage: dict[str, Any]) -> str:
    """A few lines naming the data, params, code and model of a lineage record."""
    d, m, c, r = lineage["data"], lineage["model"], lineage["code"], lineage["runtime"]
    dirty = " (uncommitted changes)" if c.get("dirty") else ""
    src = d.get("source") or {}
    source = f"{src.get('path') or 'demo domains'}  md5 {src.get('md5') or '-'}" if src else "unknown"
    code = (f"{c['digest']}  ({len(c['deps'])} files the stage depends on)" if c.get("digest")
            else "unknown (not trained by the DVC stage)")
    return "\n".join([
        f"raw source     {source}",
        f"data version   {d['data_version']}  ({d['images']} images in {d['prepared']})",
        f"manifest md5   {d['manifest_md5']}  {d['manifest']}",
        f"prepared md5   {d['prepared_md5']}",
        f"params digest  {lineage['params']['digest']}  (model + train sections)",
        f"code digest    {code}",
        f"git commit     {c.get('commit') or 'unknown'}{dirty}",
        f"model sha256   {m['sha256']}  ({m.get('file') or m.get('checkpoint')}, {m['steps']} steps)",
        f"published      {published_choice(lineage)}",
        *_best_line(lineage),
        f"device         {r['device']}  torch {r['versions'].get('torch')}  trained {r['created']}",
    ])


def published_choice(lineage: dict[str, Any]) -> str:
    """Which checkpoint `lineage publish` published, and why, in one line (`spagan lineage show`,
    the Dagster trained_model asset)."""
    sel = lineage.get("selection") or {}
    if sel.get("published") == "best":
        return (f"best: step {sel.get('step')} of {lineage['model'].get('total_steps')}, "
                f"{sel.get('select_by')} {sel.get('score'):.4f} ({sel.get('select_mode')} of "
                f"{sel.get('evaluations')} evaluations during training; train.publish=best)")
    why = sel.get("why") or "train.publish=last"  # records from before train.publish: the last, as then
    return f"last: step {lineage['model'].get('steps')} ({why})"


def _best_line(lineage: dict[str, Any]) -> list[str]:
    """The best evaluation of a run that published its last checkpoint, if it had one."""
    sel = lineage.get("selection") or {}
    best = sel.get("best")
    if not best:
        return []
    return [f"best eval      step {best['step']}, {sel['select_by']} {best['score']:.4f} (not published)"]


def locked_model_lineage(repo: str | Path, stage: str = "train") -> dict[str, Any]:
    """The model a dvc.lock stage produced, with its lineage checked against the lock.

    Returns {"model_dir", "model_md5" (the lock's hash of the folder), "lock", "lineage",
    "problems" (see compare_with_lock), "version" (a digest of data md5s, params and model hash)}.
    """
    repo = Path(repo)
    lock = read_stage_lock(repo / "dvc.lock", stage)
    model_out = next((p for p in lock["outs"] if (repo / p / LINEAGE_NAME).is_file()), None)
    if model_out is None:
        raise SpaganError(f"{repo / 'dvc.lock'}: no output of stage {stage!r} holds a {LINEAGE_NAME}")
    lineage = read_lineage(repo / model_out)
    identity = {"deps": {p: lock["deps"].get(p) for p in (lineage["data"]["manifest"], lineage["data"]["prepared"])},
                "params": lineage["params"]["digest"], "code": lineage["code"].get("digest"),
                "model": lineage["model"]["sha256"]}
    version = json_digest(identity)
    return {"model_dir": model_out, "model_md5": lock["outs"][model_out], "lock": lock, "lineage": lineage,
            "problems": compare_with_lock(lineage, lock), "version": version}
