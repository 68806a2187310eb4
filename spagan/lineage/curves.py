"""The pictures of a model's training: loss curves and the evaluation curve as one PNG-ready
image, and the newest preview grid of a run.

Reads what a published model folder holds (loss_curves.csv, eval_curve.csv) or, for a run still
training, its run folder (train_log.jsonl, eval_curve.csv): the Dagster UI shows it while a run
trains and once it is published.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from PIL import Image

from spagan.config.rules import WATCHED_MEASURES
from spagan.core.chart import Panel, line_chart
from spagan.core.layout import EVAL_CURVE_NAME, PREVIEW_DIR

LOSS_FILES = ("loss_curves.csv", "train_log.jsonl")
GENERATOR_TOTAL = ("G",)
GENERATOR_LOSSES = ("G_gan", "cycle", "identity", "fm")
DISCRIMINATOR_LOSSES = ("D_A", "D_B")
MAX_POINTS = 300  # per series: longer logs are averaged in windows (GAN losses are noisy step to step)


def _number(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _rows(path: Path) -> list[dict[str, object]]:
    """The rows of a CSV or JSON-lines log (lines cut short by a crash skipped)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def _windowed(xs: list[float], ys: list[float | None]) -> tuple[list[float], list[float | None]]:
    """At most MAX_POINTS points: the mean x and y of consecutive windows."""
    if len(xs) <= MAX_POINTS:
        return xs, ys
    size = math.ceil(len(xs) / MAX_POINTS)
    out_x, out_y = [], []
    for start in range(0, len(xs), size):
        wx, wy = xs[start:start + size], [y for y in ys[start:start + size] if y is not None]
        out_x.append(sum(wx) / len(wx))
        out_y.append(sum(wy) / len(wy) if wy else None)
    return out_x, out_y


def _series(rows: list[dict[str, object]], names: tuple[str, ...],
            labels: tuple[str, ...] | None = None) -> dict[str, tuple[list, list]]:
    xs = [_number(r.get("step")) for r in rows]
    keep = [i for i, x in enumerate(xs) if x is not None]
    out = {}
    for name, label in zip(names, labels or names):
        ys = [_number(rows[i].get(name)) for i in keep]
        if any(y is not None for y in ys):
            out[label] = _windowed([xs[i] for i in keep], ys)
    return out


def newest_preview(run_dir: str | Path) -> Path | None:
    """The newest preview grid of a run folder (<run>/previews/step_NNNNNN.png), if any."""
    folder = Path(run_dir) / PREVIEW_DIR
    files = sorted(folder.glob("step_*.png")) if folder.is_dir() else []
    return files[-1] if files else None


def training_picture(folder: str | Path, select_by: str = "object_translation") -> Image.Image | None:
    """Generator and discriminator losses over steps, and `select_by` of each evaluation (mean,
    a2b, b2a; another watched measure where select_by was never scored) when the folder has an
    eval_curve.csv; None when the folder has no loss log yet."""
    folder = Path(folder)
    log = next((folder / name for name in LOSS_FILES if (folder / name).is_file()), None)
    if log is None:
        return None
    rows = _rows(log)
    window = math.ceil(len(rows) / MAX_POINTS) if len(rows) > MAX_POINTS else 1
    suffix = f" (mean of {window} steps per point)" if window > 1 else ""
    panels = [Panel("generator loss, total" + suffix, _series(rows, GENERATOR_TOTAL)),
              Panel("generator loss terms", _series(rows, GENERATOR_LOSSES)),
              Panel("discriminator losses", _series(rows, DISCRIMINATOR_LOSSES))]
    if (folder / EVAL_CURVE_NAME).is_file():
        evals = _rows(folder / EVAL_CURVE_NAME)
        # select_by where it was scored; on data it cannot score (no masks: your own images), the
        # first watched measure that was, so the curve still shows how training goes.
        for measure in dict.fromkeys((select_by, *WATCHED_MEASURES)):
            series = _series(evals, (measure, f"a2b_{measure}", f"b2a_{measure}"), ("mean", "a2b", "b2a"))
            if series:
                note = "" if measure == select_by else f" ({select_by} unavailable on this data)"
                panels.append(Panel(f"evaluation during training: {measure} on the training slice{note}", series))
                break
    return line_chart(panels)
