"""TensorBoard event files of a run: <run folder>/tensorboard/ (`tensorboard --logdir runs/`).

Scalars, at watch.log_every as train_log.jsonl has them: `loss/<name>` for each name of
spagan.training.step.LOSS_NAMES, `train/lr`, `train/images_per_s`. Images, at each preview
step: `preview` (the preview PNG) and `attention/a2b`, `attention/b2a` (the source
discriminator's maps of the preview rows). Other callers (evaluation while training) add their
own scalars with :meth:`Board.add_scalars_at`.

A resumed run writes into the same folder with purge_step = the resumed step + 1, so TensorBoard
drops what the interrupted run logged past its checkpoint; a fresh run removes old event files.
torch.utils.tensorboard is imported here only when a Board is made (it takes about a second).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from spagan.training.step import LOSS_NAMES

log = logging.getLogger(__name__)

EVENTS_GLOB = "events.out.tfevents.*"


class Board:
    """One SummaryWriter for a run (rank 0 only); close() in a finally."""

    def __init__(self, folder: Path, resumed_from: int = 0):
        from torch.utils.tensorboard import SummaryWriter

        folder.mkdir(parents=True, exist_ok=True)
        if not resumed_from:  # a fresh run: its curves only, as train_log.jsonl starts empty
            for old in folder.glob(EVENTS_GLOB):
                old.unlink()
        # purge_step hides every earlier event at or past it: keep the checkpoint's own step.
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=resumed_from + 1 if resumed_from else None,
                                    flush_secs=30)  # scalars reach TensorBoard within 30 s (default 120)
        self.folder = folder

    def add_step(self, info: Mapping[str, Any]) -> None:
        """One logged step's losses, learning rate and images/s (python floats: no device sync)."""
        step = info["step"]
        for name in LOSS_NAMES:
            self.writer.add_scalar(f"loss/{name}", info[name], step)
        self.writer.add_scalar("train/lr", info["lr"], step)
        self.writer.add_scalar("train/images_per_s", info["images_per_s"], step)

    def add_preview(self, step: int, picture: torch.Tensor, attention: Mapping[str, torch.Tensor]) -> None:
        """The preview picture [3, H, W] and each direction's maps [N, 1, H, W], all in [0, 1]; flushes."""
        self.writer.add_image("preview", picture, step)
        for direction, maps in attention.items():
            self.writer.add_images(f"attention/{direction}", maps.clamp(0, 1), step, dataformats="NCHW")
        self.writer.flush()

    def add_scalars_at(self, step: int, values: Mapping[str, float]) -> None:
        """Scalars of any tags at `step` (e.g. {"eval/a2b/object_translation": 0.5}); flushes."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()  # flushes
