"""The images evaluation during training scores (train.eval_split), never the test split.

- ``holdout`` (default): the last ``train.eval_images`` images of trainA/ and of trainB/ (sorted by
  path) are held out: the run never trains on them (the data loader gets the rest), and
  evaluation during training scores them. A fixed, deterministic slice, the same in every run
  on the same data, so curves of different runs compare; the test split is left for the final
  evaluation only.
- ``train``: the run trains on every training image and scores the first ``train.eval_images``
  of them (no hold-out: the training set stays exactly the source's, as a benchmark's must,
  but the score is on images the networks have seen).

Without evaluation during training (``train.eval_every`` = 0) nothing is held out.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spagan.config import TrainConfig
from spagan.core.errors import SpaganError
from spagan.training.dataset import domain_files

HOLDOUT, TRAIN = "holdout", "train"


@dataclass(frozen=True)
class EvalSlice:
    """Which training images a run trains on and which evaluation during training scores."""

    split: str  # "holdout" | "train"; "" when the run does not evaluate during training
    train_a: list[Path]  # what the data loader walks
    train_b: list[Path]
    eval_a: list[Path]  # what evaluation during training translates and compares
    eval_b: list[Path]

    @property
    def held_out(self) -> bool:
        """Whether the scored images are excluded from training."""
        return self.split == HOLDOUT

    def record(self, data_dir: str | Path) -> dict[str, Any]:
        """What lineage, metrics.json and best.json keep: the split, the slice size, the file names
        (relative to data_dir) and a sha256 of them, and the training counts."""
        root = Path(data_dir)
        names = {d: [p.relative_to(root).as_posix() for p in files] for d, files in (("A", self.eval_a),
                                                                                     ("B", self.eval_b))}
        digest = hashlib.sha256("\n".join(names["A"] + names["B"]).encode()).hexdigest()
        return {"split": self.split, "held_out_of_training": self.held_out, "images_per_domain": len(self.eval_a),
                "files": names, "files_sha256": digest,
                "trained_on": {"A": len(self.train_a), "B": len(self.train_b)}}


def eval_slice(files_a: list[Path], files_b: list[Path], split: str, n: int) -> EvalSlice:
    """Split sorted training files by train.eval_split and train.eval_images (see module docstring);
    split "" (no evaluation during training): train on everything, score nothing."""
    if split == "":
        return EvalSlice("", files_a, files_b, [], [])
    if split == TRAIN:
        return EvalSlice(TRAIN, files_a, files_b, files_a[:n], files_b[:n])
    if split != HOLDOUT:
        raise ValueError(f"unknown train.eval_split {split!r}")
    for files, domain in ((files_a, "A"), (files_b, "B")):
        if len(files) <= n:
            where = files[0].parent if files else f"train{domain}"
            raise SpaganError(f"{where}: {len(files)} images, but train.eval_images={n} are held out of training "
                              f"for evaluation during training: lower train.eval_images, set "
                              f"train.eval_split=train (score training images) or train.eval_every=0")
    return EvalSlice(HOLDOUT, files_a[:-n], files_b[:-n], files_a[-n:], files_b[-n:])


def run_slice(t_cfg: TrainConfig, data_dir: str | Path) -> EvalSlice:
    """The EvalSlice of a run with these train settings on data_dir's trainA/ and trainB/."""
    files_a, files_b = domain_files(data_dir, "train")
    return eval_slice(files_a, files_b, t_cfg.eval_split if t_cfg.eval_every else "", t_cfg.eval_images)
