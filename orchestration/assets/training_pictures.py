"""What the Dagster UI shows of a training: the curves picture, the latest preview grid, the
TensorBoard folder and which checkpoint was published, as metadata of ``trained_model``.

While `dvc repro train` runs, `TrainingObserver` is called every few seconds by the DVC resource
and records an AssetObservation of ``trained_model`` whenever the run folder moved on: with the
pictures when a new preview or evaluation appeared, as text only (step, losses) when
`observe_every_s` passed with new steps; the asset's Events tab then shows the run as it trains.
Once published, the materialization carries the same pictures from the model folder. Dagster has
no image metadata type: pictures are PNGs inline in markdown.
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg

from spagan.core.layout import BOARD_DIR, EVAL_CURVE_NAME, PUBLISHED_PREVIEW
from spagan.data.preview import markdown_image, png_data_uri
from spagan.lineage.curves import newest_preview, training_picture
from spagan.lineage.record import published_choice

RUN_DIR = "runs/train"  # the train stage's work folder (dvc.yaml)
PREVIEW_SIDE = 640


def curves_markdown(folder: Path, select_by: str) -> str | None:
    """The loss and evaluation curves of a model or run folder as inline markdown (None: no log yet)."""
    picture = training_picture(folder, select_by)
    return None if picture is None else f"![training curves]({png_data_uri(picture)})"


def _preview_md(path: Path) -> str:
    return f"{path.name}\n\n" + markdown_image(path, "latest preview", PREVIEW_SIDE)


def model_pictures(repo: Path, model_dir: Path, lineage: dict[str, Any]) -> dict[str, Any]:
    """Metadata of a published model: curves, latest preview, TensorBoard folder, the choice."""
    select_by = lineage["params"]["train"].get("select_by", "object_translation")
    meta: dict[str, Any] = {"published_checkpoint": published_choice(lineage)}  # as `spagan lineage show` says it
    curves = curves_markdown(model_dir, select_by)
    if curves is not None:
        meta["training_curves"] = dg.MetadataValue.md(curves)
    if (model_dir / PUBLISHED_PREVIEW).is_file():
        meta["latest_preview"] = dg.MetadataValue.md(_preview_md(model_dir / PUBLISHED_PREVIEW))
    if (repo / RUN_DIR / BOARD_DIR).is_dir():
        meta["tensorboard"] = dg.MetadataValue.path(str(repo / RUN_DIR / BOARD_DIR))
    return meta


def _last_step(run_dir: Path) -> dict[str, Any] | None:
    """The last line of the run's train_log.jsonl (a line cut short is skipped)."""
    log = run_dir / "train_log.jsonl"
    if not log.is_file():
        return None
    with open(log, "rb") as fh:
        fh.seek(max(0, log.stat().st_size - 4096))
        lines = fh.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


class TrainingObserver:
    """Called by the DVC resource while a training runs: records an observation of the model asset
    with the run's step, curves, latest preview and TensorBoard folder when they moved on."""

    def __init__(self, context: dg.AssetExecutionContext, asset_key: dg.AssetKey, repo: Path, select_by: str,
                 observe_every_s: float = 60.0):
        self.context, self.asset_key, self.run_dir = context, asset_key, repo / RUN_DIR
        self.select_by, self.every = select_by, observe_every_s
        self._files: tuple[Any, ...] | None = None  # (latest preview, eval curve mtime) last recorded
        self._step = -1
        self._at = 0.0

    def __call__(self) -> None:
        last = _last_step(self.run_dir)
        if last is None:
            return
        curve = self.run_dir / EVAL_CURVE_NAME
        files = (newest_preview(self.run_dir), curve.stat().st_mtime if curve.is_file() else None)
        pictures = files != self._files  # only then: a day-long run must not fill the event log with PNGs
        if not pictures and (last["step"] == self._step or time.monotonic() - self._at < self.every):
            return
        self._files, self._step, self._at = files, last["step"], time.monotonic()
        self.context.log_event(dg.AssetObservation(asset_key=self.asset_key,
                                                   metadata=self.metadata(last, pictures=pictures)))

    def metadata(self, last: dict[str, Any], *, pictures: bool = True) -> dict[str, Any]:
        """The run as it stands: step, losses, TensorBoard folder, and (pictures) the curves and
        the latest preview."""
        meta: dict[str, Any] = {
            "training_step": f"{last['step']} of {last.get('total_steps')}",
            "losses": dg.MetadataValue.json({k: last[k] for k in ("G", "D_A", "D_B") if k in last}),
            "run_dir": dg.MetadataValue.path(str(self.run_dir)),
        }
        curves = curves_markdown(self.run_dir, self.select_by) if pictures else None
        if curves is not None:
            meta["training_curves"] = dg.MetadataValue.md(curves)
        preview = newest_preview(self.run_dir) if pictures else None
        if preview is not None:
            meta["latest_preview"] = dg.MetadataValue.md(_preview_md(preview))
        if (self.run_dir / BOARD_DIR).is_dir():
            meta["tensorboard"] = dg.MetadataValue.path(str(self.run_dir / BOARD_DIR))
        return meta
