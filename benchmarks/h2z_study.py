"""The horse2zebra study at the paper's discriminator geometry (issue 30): does SPA-GAN beat CycleGAN
on real photographs? Rule and verdict in docs/fidelity.md ("horse2zebra at the paper's geometry").

Every run trains on the official horse2zebra training split (prepared with `data.dedupe: report`,
so every image is kept) with the study's settings (SETTINGS: resolution, networks, budget, chosen
from measured seconds per step), its variant's switches (TRAINED) and its seed; each is a finished
model with its own fully decayed schedule.

  # 0. the data: horse2zebra in report mode, and the Weizmann horses as a masked testA
  .venv/bin/python benchmarks/h2z_study.py prepare --out /work/studies/h2z
  # 1. train the plan: two processes share it, one thread each (resumable; a finished run is skipped)
  for i in 1 2; do nice .venv/bin/python benchmarks/h2z_study.py train --out /work/studies/h2z & done; wait
  # 2. evaluate every finished run on the test split and on the Weizmann horses
  .venv/bin/python benchmarks/h2z_study.py evaluate --out /work/studies/h2z
  # 3. rows, aggregates and the rule's verdict -> benchmarks/results/h2z_study.json
  .venv/bin/python benchmarks/h2z_study.py collect --out /work/studies/h2z

The study folder lies outside the repository so that a later session picks the runs up where they
stopped: runs write done.json when they finish, rows are written one file per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fidelity_study import Run, train_runs  # noqa: E402

log = logging.getLogger("h2z_study")

SHARED_DATA = ROOT.parent / "shared" / "data"

# The study's settings for every run (the same generator, discriminator geometry and schedule for
# every variant); chosen from measured seconds per step (docs/fidelity.md, "The plan").
SETTINGS: dict[str, Any] = {
    "model.n_layers_d": "auto", "train.image_size": 64, "train.load_size": 72,
    "model.ngf": 32, "model.n_blocks": 6, "model.ndf": 64,
    "train.epochs": 5, "train.epochs_decay": 5, "train.max_steps": 0,
    "watch.checkpoint_every": 500, "train.eval_every": 0, "watch.tensorboard": False, "watch.preview_every": 2000,
}
PAPER = {"model.attention": True, "model.attention_features": "post_act", "model.attention_blend": False,
         "model.attention_detach": True, "train.lambda_fm": 1.0, "train.fm_pairing": "identity",
         "train.identity_input": "attended"}
TRAINED: dict[str, dict[str, Any]] = {
    "spagan_paper": PAPER,
    "cyclegan": {"model.attention": False, "train.lambda_fm": 0.0},
    "spagan_idt_raw": {**PAPER, "train.identity_input": "raw"},
    "spagan_no_fm": {**PAPER, "train.lambda_fm": 0.0},
    "spagan_pre_act_blend": {**PAPER, "model.attention_features": "pre_act", "model.attention_blend": True},
}


def plan() -> list[Run]:
    """The runs in training order: the paper's SPA-GAN and CycleGAN seed by seed (so the first pair
    already compares them), then the raw identity input, then the one-seed variants."""
    runs = [Run(v, 1, s) for s in range(3) for v in ("spagan_paper", "cyclegan")]
    runs += [Run("spagan_idt_raw", 1, s) for s in range(3)]
    runs += [Run("spagan_no_fm", 1, 0), Run("spagan_pre_act_blend", 1, 0)]
    return runs


def run_overrides(run: Run) -> dict[str, Any]:
    """The params overrides of one run: its variant and its seed (over SETTINGS and --set)."""
    return {**TRAINED[run.variant], "train.seed": run.seed}


def with_settings(args: argparse.Namespace) -> argparse.Namespace:
    """args.set with the study's SETTINGS first, so a --set (a test's tiny networks) overrides them."""
    args.set = [f"{key}={value}" for key, value in SETTINGS.items()] + list(args.set)
    return args


def prepare(args: argparse.Namespace) -> None:
    """The study's two data folders under --out, every image kept (data.dedupe: report):
    h2z/ (horse2zebra's official split) and weizmann/ (horse2zebra train + testB, the Weizmann
    horses as a masked testA), each through `spagan prepare` (a prepared folder is not redone)."""
    import subprocess

    from weizmann_source import weizmann_source

    out = Path(args.out)
    sources = {"h2z": SHARED_DATA / "horse2zebra", "weizmann": out / "weizmann_source"}
    if not (out / "weizmann_source" / "testA_mask").is_dir():
        weizmann_source(out / "weizmann_source")
    for name, source in sources.items():
        if (out / name / "summary.json").exists():
            continue
        cmd = [str(ROOT / ".venv" / "bin" / "spagan"), "prepare", "--source", str(source), "--out", str(out / name),
               "--params", args.params, "--set", "data.dedupe=report", "--workers", "1"]
        log.info("preparing %s: %s", name, " ".join(cmd))
        subprocess.run(cmd, check=True)


def train_plan(args: argparse.Namespace) -> None:
    """Train every planned run not finished (an interrupted one resumes), on the prepared data."""
    args.data = str(Path(args.out) / "h2z" / "prepared")
    if not Path(args.data, "trainA").is_dir():
        raise SystemExit(f"{args.data}: not prepared; run `benchmarks/h2z_study.py prepare --out {args.out}` first")
    train_runs(with_settings(args), [(run, run_overrides(run)) for run in plan()])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["prepare", "train"])
    p.add_argument("--out", required=True, help="study folder (outside the repository)")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every run, under the study's settings and the variant's own (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--only", nargs="*", default=[], help="run or variant names to restrict the phase to")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.phase == "prepare":
        prepare(args)
    elif args.phase == "train":
        train_plan(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
