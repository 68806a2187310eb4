"""The fidelity study on the honest yardstick (issue 22): SPA-GAN readings, CycleGAN, post-hoc rows.

Every trained run has its own fully decayed schedule: budget k trains k x (9 + 9) epochs at the
shipped params (constant lr for the first half, linear decay to zero over the second), so each
row is a finished model, never a snapshot taken partway through a longer schedule.

  # 1. train the plan (resumable: a finished run is skipped, an interrupted one resumes)
  .venv/bin/python benchmarks/fidelity_study.py train --data DATA/prepared --out RUNS --threads 1
  # 2. evaluate every finished run, plus the post-hoc rows (CycleGAN + blend, input as output)
  .venv/bin/python benchmarks/fidelity_study.py evaluate --data DATA/prepared --out RUNS
  # 3. one row per variant, budget and seed -> benchmarks/results/fidelity.json (+ table, plot)
  .venv/bin/python benchmarks/fidelity_study.py collect --out RUNS --plot docs/fidelity.png

Runs write `done.json` when they finish and rows are written one file per run as each evaluation
ends, so the study can be stopped at any point and continued without losing a finished run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.core.fileio import atomic_write_bytes  # noqa: E402

log = logging.getLogger("fidelity_study")

# What each variant trains, pinned here so the study means the same whatever params.yaml ships.
PAPER = {"model.attention": True, "model.attention_features": "post_act", "model.attention_blend": False,
         "train.lambda_fm": 1.0}
TRAINED: dict[str, dict[str, Any]] = {
    "spagan_paper": PAPER,                                                    # the paper's reading
    "spagan_pre_act": {**PAPER, "model.attention_features": "pre_act"},       # one open choice
    "spagan_blend": {**PAPER, "model.attention_blend": True},                 # one departure
    "spagan_pre_act_blend": {**PAPER, "model.attention_features": "pre_act", "model.attention_blend": True},
    "cyclegan": {"model.attention": False, "train.lambda_fm": 0.0},          # the baseline
}
# Rows evaluated from existing checkpoints, no training: (row name, trained run it reads, how)
POST_HOC: dict[str, tuple[str, str]] = {
    "cyclegan_posthoc_blend": ("cyclegan", "post_hoc_blend"),
    "input_as_output": ("cyclegan", "input_as_output"),
}


@dataclass(frozen=True)
class Run:
    """One trained model of the study."""

    variant: str
    budget: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.variant}_b{self.budget}_s{self.seed}"


def plan() -> list[Run]:
    """The study's runs in the order they train: the shipped budget first (3 seeds for the paper,
    the shipped setting and CycleGAN; one for the others), then 2x and 4x with one seed."""
    main = ("spagan_paper", "spagan_pre_act_blend", "cyclegan")
    runs = [Run(v, 1, s) for s in range(3) for v in main]
    runs += [Run("spagan_pre_act", 1, 0), Run("spagan_blend", 1, 0)]
    runs += [Run(v, b, 0) for b in (2, 4) for v in main]
    return runs


def run_overrides(run: Run, base_epochs: int, base_decay: int) -> dict[str, Any]:
    """The params overrides of one run: its variant, seed and fully decayed schedule."""
    return {**TRAINED[run.variant], "train.seed": run.seed, "train.max_steps": 0,
            "train.epochs": base_epochs * run.budget, "train.epochs_decay": base_decay * run.budget}


def train_plan(args: argparse.Namespace) -> None:
    """Train every planned run that has not finished (an interrupted one resumes)."""
    import torch

    from spagan.config import load_config
    from spagan.training.loop import result_dict, train

    torch.set_num_threads(args.threads)
    base = load_config(args.params)
    for run in plan():
        if args.only and run.name not in args.only and run.variant not in args.only:
            continue
        folder = Path(args.out) / run.name
        if (folder / "done.json").exists():
            continue
        cfg = load_config(args.params, run_overrides(run, base.train.epochs, base.train.epochs_decay))
        log.info("training %s", run.name)
        t0 = time.perf_counter()
        result = train(cfg, args.data, folder / "train", device="cpu", resume="auto")
        if not result.finished:
            log.warning("%s stopped at step %d of %d", run.name, result.steps, result.total_steps)
            continue
        done = {"run": run.__dict__, "train": result_dict(result), "seconds_this_process": time.perf_counter() - t0,
                "threads": args.threads, "overrides": run_overrides(run, base.train.epochs, base.train.epochs_decay)}
        atomic_write_bytes(folder / "done.json", (json.dumps(done, indent=2) + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["train", "evaluate", "collect"])
    p.add_argument("--data", help="prepared folder (trainA/ trainB/ testA/ testB/, masks and counterparts)")
    p.add_argument("--out", required=True, help="study folder: one subfolder per run")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--only", nargs="*", default=[], help="run or variant names to restrict the phase to")
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/fidelity.json"))
    p.add_argument("--plot", default=None, help="PNG of the study (collect)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.phase == "train":
        train_plan(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
