"""Watching a run while it trains: preview grids and TensorBoard, on the main process only.

train() builds one RunWatch, the step loop calls :meth:`RunWatch.step` once per step, and
train() closes it in a finally (also after a stop signal or an exception). Nothing here
touches what is trained: a preview draws in eval mode under no_grad with the RNG forked, and
steps that are neither logged nor previewed cost two integer tests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spagan.core.layout import BOARD_DIR, PREVIEW_DIR
from spagan.training.board import Board
from spagan.training.previews import Previews, load_rows, preview_files
from spagan.training.state import RunState

log = logging.getLogger(__name__)


class RunWatch:
    """Previews every watch.preview_every steps (and at the last), TensorBoard scalars every
    watch.log_every steps (and at the last); either may be off (None)."""

    def __init__(self, run: RunState, previews: Previews | None, board: Board | None):
        self.run, self.previews, self.board = run, previews, board
        self.preview_every = run.cfg.watch.preview_every if previews is not None else 0
        self.log_every = run.cfg.watch.log_every

    @classmethod
    def start(cls, run: RunState, data_dir: str | Path, out_dir: Path, resumed_from: int, is_main: bool
              ) -> RunWatch:
        """The run's watch: nothing on other processes; previews' images read here, once."""
        w_cfg = run.cfg.watch
        previews = board = None
        if is_main and w_cfg.preview_every:
            rows = load_rows(preview_files(data_dir, w_cfg.preview_images), run.cfg.train.image_size, run.device,
                             run.fmt)
            previews = Previews(out_dir / PREVIEW_DIR, rows, run.cfg.model, run.device, w_cfg.preview_keep)
            previews.drop_after(resumed_from)
        if is_main and w_cfg.tensorboard:
            try:
                board = Board(out_dir / BOARD_DIR, resumed_from)
            except ImportError as exc:  # a declared dependency, but a run is worth more than its charts
                log.warning("watch.tensorboard is on but TensorBoard cannot be imported (%s): no events "
                            "written; pip install 'tensorboard>=2.14' or set watch.tensorboard=false", exc)
        return cls(run, previews, board)

    def step(self, info: Mapping[str, Any], last: bool) -> None:
        """After each step: `info` as on_progress gets it; `last`: the run stops after this step."""
        step = info["step"]
        if self.board is not None and (step % self.log_every == 0 or last):
            self.board.add_step(info)
        if self.preview_every and (step % self.preview_every == 0 or last):
            shown = self.previews.write(self.run.nets, step)
            if self.board is not None:
                self.board.add_preview(step, shown.picture, shown.attention)

    def add_scalars_at(self, step: int, values: Mapping[str, float]) -> None:
        """Scalars for TensorBoard from another watcher (evaluation while training); no-op when off."""
        if self.board is not None:
            self.board.add_scalars_at(step, values)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
