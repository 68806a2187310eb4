"""Evaluation during training: when to evaluate, the curve of scores, and the best checkpoint so far.

The loop knows no evaluation code: it is handed an `Evaluator` (a callable that scores the
networks as they are; `spagan train` wires spagan.evaluation.training_eval's) and this module
decides when it runs and keeps what it returns, in the run folder:

  eval_curve.csv   one row per evaluation: step, epoch, seconds, then every measure (mean over the
                   two directions, then a2b_ and b2a_), empty where a measure is unavailable
  best.pt          the networks and config at the best evaluation by train.select_by (higher or
                   lower is better as spagan.config.rules.SELECTABLE says)
                   (weights only: no optimiser or pool state), with the step and the score
  best.json        which evaluation best.pt is: step, epoch, measure, mode, score, and the images
                   it was chosen on (selected_on: train.eval_split, the slice size, a sha256 of
                   the file names; the names are in the run's metrics.json, eval_slice)

An evaluation runs every train.eval_every epochs and at the last step, right after that step's
checkpoint. Its row is written after the checkpoint, so a run killed while evaluating resumes
at that step with the row missing, and the evaluation runs again first (`pending`); rows past
the checkpoint's step cannot exist. The best so far survives a resume (best.json); a changed
select_by starts the choice afresh from the next evaluation.
"""

import csv
import io
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from spagan.config import Config
from spagan.config.rules import SELECTABLE, WATCHED_MEASURES
from spagan.core.fileio import atomic_write_bytes
from spagan.core.rng import rng_kept
from spagan.core.layout import BEST_NAME, BEST_RECORD_NAME, EVAL_CURVE_NAME
from spagan.models import Networks
from spagan.models.checkpoint import save_checkpoint

log = logging.getLogger(__name__)

DIRECTIONS = ("a2b", "b2a")
CURVE_COLUMNS = ("step", "epoch", "seconds",
                 *(name for m in WATCHED_MEASURES for name in (m, *(f"{d}_{m}" for d in DIRECTIONS))))

# Scores the networks as they are at `step`: every column of CURVE_COLUMNS past "seconds" it can
# compute (None or absent: unavailable). Called with the networks in train mode; it must not
# change them.
Evaluator = Callable[[Networks, int], dict[str, float | None]]


class EvalDuringTraining:
    """When to evaluate a run, and the curve and best checkpoint it leaves (see module docstring).
    Every process decides `due` alike (the checkpoint before an evaluation is a collective);
    only the main process evaluates and writes."""

    def __init__(self, evaluator: Evaluator, cfg: Config, out_dir: str | Path, steps_per_epoch: int, total: int,
                 *, is_main: bool = True, scored_on: dict[str, Any] | None = None):
        self.evaluator, self.cfg, self.is_main = evaluator, cfg, is_main
        # the images every evaluation scores (spagan.training.holdout's record): best.json names them
        self.scored_on = scored_on
        self.out_dir = Path(out_dir)
        self.every = cfg.train.eval_every * steps_per_epoch
        self.steps_per_epoch, self.total = steps_per_epoch, total
        self.rows: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self._unscored_warned = False

    @property
    def criterion(self) -> dict[str, str]:
        return {"select_by": self.cfg.train.select_by, "select_mode": SELECTABLE[self.cfg.train.select_by]}

    def due(self, step: int) -> bool:
        """Whether step ends an evaluation period (every eval_every epochs, and the last step)."""
        return self.every > 0 and step > 0 and (step % self.every == 0 or step == self.total)

    def resume(self, step: int) -> None:
        """Load the curve and the best so far of a run resumed at `step` (fresh run: start empty,
        dropping files an earlier run in this folder left)."""
        if not self.is_main:
            return
        curve, record = self.out_dir / EVAL_CURVE_NAME, self.out_dir / BEST_RECORD_NAME
        self.rows = [r for r in read_curve(curve) if r["step"] <= step] if step else []
        self.best = None
        if step and record.is_file():
            best = json.loads(record.read_text(encoding="utf-8"))
            if best.get("step", math.inf) <= step and {k: best.get(k) for k in self.criterion} == self.criterion:
                self.best = best
            else:
                log.info("%s: another selection (or past the checkpoint): the best is chosen afresh", record)
        if self.best is None:
            for name in (BEST_NAME, BEST_RECORD_NAME):
                (self.out_dir / name).unlink(missing_ok=True)
        self._write_curve()

    def pending(self, step: int) -> bool:
        """An evaluation due at `step` that has no row (the run was stopped while it evaluated)."""
        return self.is_main and self.due(step) and not any(r["step"] == step for r in self.rows)

    def run(self, nets: Networks, step: int, device: torch.device) -> dict[str, float | None] | None:
        """Evaluate at `step` (main process; others return None): append the row, keep best.pt
        when this is the best score so far. Returns the scores."""
        if not self.is_main:
            return None
        started = time.perf_counter()
        with rng_kept(device), torch.no_grad():
            scores = self.evaluator(nets, step)
        seconds = time.perf_counter() - started
        epoch = (step - 1) // self.steps_per_epoch
        row = {"step": step, "epoch": epoch, "seconds": round(seconds, 3), **{k: _finite(scores.get(k))
                                                                             for k in CURVE_COLUMNS[3:]}}
        self.rows.append(row)
        self._write_curve()
        better = self._better(row)
        if better:
            self._keep_best(nets, row)
        measure = self.cfg.train.select_by
        log.info("evaluation at step %d of %d (%.1f s): %s %s%s", step, self.total, seconds, measure,
                 _show(row.get(measure)), " (best so far: best.pt)" if better else "")
        return scores

    def _better(self, row: dict[str, Any]) -> bool:
        value = row.get(self.cfg.train.select_by)
        if value is None:
            if not self._unscored_warned:
                log.warning("evaluation at step %d could not score train.select_by=%s (no masks or weights for "
                            "it?): no best checkpoint from it", row["step"], self.cfg.train.select_by)
                self._unscored_warned = True
            return False
        if self.best is None:
            return True
        if SELECTABLE[self.cfg.train.select_by] == "max":
            return value > self.best["score"]
        return value < self.best["score"]

    def _keep_best(self, nets: Networks, row: dict[str, Any]) -> None:
        """best.pt, then best.json (atomic each: a best.json always names a complete best.pt)."""
        record = {"step": row["step"], "epoch": row["epoch"], **self.criterion,
                  "score": row[self.cfg.train.select_by]}
        if self.scored_on is not None:  # which images the score is on (never the test split)
            record["selected_on"] = {k: self.scored_on[k] for k in ("split", "held_out_of_training",
                                                                    "images_per_domain", "files_sha256")}
        state = {"networks": {k: {n: t.detach().cpu().clone() for n, t in sd.items()}
                              for k, sd in nets.state_dicts().items()},
                 "config": self.cfg.to_dict(), "step": row["step"], "selection": record}
        save_checkpoint(state, self.out_dir / BEST_NAME)
        atomic_write_bytes(self.out_dir / BEST_RECORD_NAME, (json.dumps(record, indent=2) + "\n").encode())
        self.best = record

    def _write_curve(self) -> None:
        atomic_write_bytes(self.out_dir / EVAL_CURVE_NAME, curve_csv(self.rows))


def curve_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows as eval_curve.csv (the CSV `dvc plots` reads; None as an empty cell)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CURVE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CURVE_COLUMNS})
    return out.getvalue().encode()


def read_curve(path: str | Path) -> list[dict[str, Any]]:
    """eval_curve.csv as rows (numbers as int/float, empty cells as None); [] when absent."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for raw in csv.DictReader(path.read_text(encoding="utf-8").splitlines()):
        try:
            row: dict[str, Any] = {"step": int(raw["step"]), "epoch": int(raw["epoch"])}
        except (KeyError, TypeError, ValueError):
            continue  # a row cut short
        for key in CURVE_COLUMNS[2:]:
            cell = raw.get(key)
            row[key] = float(cell) if cell not in (None, "") else None
        rows.append(row)
    return rows


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _show(value: float | None) -> str:
    return "unavailable" if value is None else f"{value:.4f}"
