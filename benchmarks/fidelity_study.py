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
from spagan.evaluation.ablation import _flat_overrides  # noqa: E402
from spagan.evaluation.report import REFERENCES  # noqa: E402

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
# Rows evaluated from existing checkpoints, no training: row name -> the trained variant it blends
POST_HOC: dict[str, str] = {"cyclegan_posthoc_blend": "cyclegan"}
# REFERENCES: the reference rows every evaluation computes (the same for every run of one test set), kept once


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


LOCK_NAME = "training.pid"


def claim(folder: Path) -> bool:
    """Take the run for this process (several train processes share one plan): True when no live
    process holds it. A lock left by a killed process is taken over, and its run resumes."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # atomic: one process wins
        except FileExistsError:
            try:
                holder = int(lock.read_text() or 0)
                if holder == os.getpid():
                    return True
                os.kill(holder, 0)
                return False  # a live process trains it
            except (ValueError, ProcessLookupError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return True
    return False


def train_plan(args: argparse.Namespace) -> None:
    """Train every planned run that has not finished (an interrupted one resumes); runs another
    live train process holds are left to it."""
    from spagan.config import load_config

    base = load_config(args.params, _flat_overrides(args.set))
    train_runs(args, [(run, run_overrides(run, base.train.epochs, base.train.epochs_decay)) for run in plan()])


def train_runs(args: argparse.Namespace, runs: list[tuple[Run, dict[str, Any]]]) -> list[str]:
    """Train each (run, overrides) not finished and not held by another live process, in order,
    with args.set under the run's overrides; a finished run writes done.json (another study's
    plan, e.g. benchmarks/h2z_study.py, trains through this too). Returns the names of the runs
    this process finished."""
    import torch

    from spagan.config import load_config
    from spagan.training.loop import result_dict, train

    torch.set_num_threads(args.threads)
    shared = _flat_overrides(args.set)
    finished: list[str] = []
    for run, overrides in runs:
        if args.only and run.name not in args.only and run.variant not in args.only:
            continue
        folder = Path(args.out) / run.name
        if (folder / "done.json").exists() or not claim(folder):
            continue
        cfg = load_config(args.params, {**shared, **overrides})
        log.info("training %s", run.name)
        t0 = time.perf_counter()
        result = train(cfg, args.data, folder / "train", device="cpu", resume="auto")
        if not result.finished:
            log.warning("%s stopped at step %d of %d", run.name, result.steps, result.total_steps)
            continue
        done = {"run": run.__dict__, "train": result_dict(result), "seconds_this_process": time.perf_counter() - t0,
                "threads": args.threads, "overrides": overrides}
        atomic_write_bytes(folder / "done.json", (json.dumps(done, indent=2) + "\n").encode())
        finished.append(run.name)
    return finished


# The yardstick's measures in every row (metrics.json keys; each row has <key>_a2b and <key>_b2a)
MEASURES = ("object_translation", "object_colour", "object_structure", "object_domain_probability",
            "object_domain_share", "success_share", "offline_mmd_x100", "background_l1", "background_l1_generator",
            "attention_auc", "attention_in_mask", "kid_x100")
ROWS_DIR = "rows"


def study_row(name: str, budget: int | None, seed: int | None, metrics: dict[str, Any],
              reference: str | None = None, **extra: Any) -> dict[str, Any]:
    """One row of fidelity.json: a run's (or a reference row's) measures per direction."""
    from spagan.evaluation.report import DIRECTIONS, metric_value

    row: dict[str, Any] = {"variant": name, "budget": budget, "seed": seed, **extra}
    for key in MEASURES:
        for d in DIRECTIONS:
            value = metric_value(metrics, d, key, reference)
            row[f"{key}_{d}"] = None if value is None else round(value, 4)
    row["data_version"] = metrics["data"]["data_version"]
    row["model_sha256"] = None if reference else metrics["checkpoint"]["sha256"]
    return row


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(rows, indent=2) + "\n").encode())


def evaluate_runs(args: argparse.Namespace) -> None:
    """Evaluate every finished run not yet evaluated; CycleGAN runs also with the post-hoc blend;
    the reference rows (input as output, counterpart as output) once, from the first evaluation."""
    from spagan.config import load_config
    from spagan.evaluation.evaluate import evaluate

    out = Path(args.out)
    eval_cfg = load_config(args.params, _flat_overrides(args.set)).eval
    for run in plan():
        if args.only and run.name not in args.only and run.variant not in args.only:
            continue
        folder = out / run.name
        done_path, rows_path = folder / "done.json", out / ROWS_DIR / f"{run.name}.json"
        if not done_path.exists() or rows_path.exists():
            continue
        done = json.loads(done_path.read_text())
        ckpt = folder / "train" / "checkpoint.pt"
        extra = {"steps": done["train"]["steps"], "train_seconds": round(done["seconds_this_process"], 1),
                 "threads": done["threads"], "trained": True}
        metrics = evaluate(eval_cfg, ckpt, Path(args.data), folder / "eval", device="cpu")
        rows = [study_row(run.variant, run.budget, run.seed, metrics, **extra)]
        for row_name in (r for r, source in POST_HOC.items() if source == run.variant):
            blended = evaluate(eval_cfg, ckpt, Path(args.data), folder / "eval_post_hoc_blend", device="cpu",
                               post_hoc_blend=True)
            rows.append(study_row(row_name, run.budget, run.seed, blended, **{**extra, "trained": False}))
        if not (out / ROWS_DIR / "references.json").exists():
            refs = [study_row(r, None, None, metrics, reference=r, trained=False) for r in REFERENCES]
            _write_rows(out / ROWS_DIR / "references.json", refs)
        _write_rows(rows_path, rows)
        log.info("evaluated %s: object translation %s / %s", run.name, rows[0]["object_translation_a2b"],
                 rows[0]["object_translation_b2a"])


# The shipping rule, stated before the numbers (issue 22; docs/fidelity.md "The rule"):
# a SPA-GAN setting ships only if, at the shipped budget (1x, 3 seeds), its pessimistic bound
# (mean - std where higher is better, mean + std where lower is better) is no worse than
# CycleGAN's mean on the composed background change and on object translation, in both
# directions, and its mean attention ROC AUC is at least 0.1 above CycleGAN's. A setting with
# fewer than 3 seeds at 1x cannot pass. If none passes, the paper's reading ships.
RULE_MEASURES = (("background_l1", "lower"), ("object_translation", "higher"))
AUC_MARGIN = 0.1
MIN_SEEDS = 3


def aggregate(rows: list[dict[str, Any]], variant: str, budget: int) -> dict[str, Any] | None:
    """Mean and std (population, over seeds) of every measure of one variant at one budget."""
    import numpy as np

    picked = [r for r in rows if r["variant"] == variant and r["budget"] == budget]
    if not picked:
        return None
    agg: dict[str, Any] = {"variant": variant, "budget": budget, "seeds": sorted(r["seed"] for r in picked)}
    for key in picked[0]:
        values = [r[key] for r in picked if isinstance(r.get(key), (int, float)) and not isinstance(r[key], bool)]
        if key.endswith(("_a2b", "_b2a")) and len(values) == len(picked):
            agg[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    return agg


def apply_rule(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The verdict of the shipping rule for every trained SPA-GAN setting at 1x."""
    base = aggregate(rows, "cyclegan", 1)
    verdict: dict[str, Any] = {"rule": "pessimistic bound (mean -/+ std over seeds) no worse than CycleGAN's mean on "
                               "background_l1 and object_translation in both directions; attention AUC >= "
                               f"CycleGAN's + {AUC_MARGIN}; at least {MIN_SEEDS} seeds", "settings": {}}
    for variant in TRAINED:
        if variant == "cyclegan":
            continue
        agg = aggregate(rows, variant, 1)
        if agg is None or base is None:
            continue
        checks, reasons = {}, []
        if len(agg["seeds"]) < MIN_SEEDS:
            reasons.append(f"{len(agg['seeds'])} seed(s) at 1x, the rule needs {MIN_SEEDS}")
        for d in ("a2b", "b2a"):
            for key, better in RULE_MEASURES:
                s, c = agg.get(f"{key}_{d}"), base.get(f"{key}_{d}")
                if s is None or c is None:
                    reasons.append(f"{key}_{d} missing")
                    continue
                bound = s["mean"] - s["std"] if better == "higher" else s["mean"] + s["std"]
                ok = bound >= c["mean"] if better == "higher" else bound <= c["mean"]
                checks[f"{key}_{d}"] = {"bound": round(bound, 4), "cyclegan": round(c["mean"], 4), "passes": ok}
                if not ok:
                    reasons.append(f"{key}_{d}: bound {bound:.3f} vs CycleGAN {c['mean']:.3f}")
            s, c = agg.get(f"attention_auc_{d}"), base.get(f"attention_auc_{d}")
            ok = s is not None and c is not None and s["mean"] >= c["mean"] + AUC_MARGIN
            checks[f"attention_auc_{d}"] = {"mean": None if s is None else round(s["mean"], 4),
                                            "needed": None if c is None else round(c["mean"] + AUC_MARGIN, 4),
                                            "passes": ok}
            if not ok:
                reasons.append(f"attention_auc_{d} not {AUC_MARGIN} above CycleGAN")
        verdict["settings"][variant] = {"passes": not reasons, "reasons": reasons, "checks": checks}
    passing = [v for v, s in verdict["settings"].items() if s["passes"]]

    def translated(v: str) -> float:  # several pass: the one that translates objects most, both directions summed
        return sum(aggregate(rows, v, 1)[f"object_translation_{d}"]["mean"] for d in ("a2b", "b2a"))

    verdict["ships"] = max(passing, key=translated) if passing else "spagan_paper"
    verdict["why"] = (f"{verdict['ships']} passes the rule" if passing else
                      "no SPA-GAN setting passes the rule: the paper's reading ships")
    return verdict


def collect(args: argparse.Namespace) -> None:
    """Merge every run's rows into fidelity.json (one row per variant, budget and seed), with the
    per-budget aggregates and the rule's verdict; print the tables; plot."""
    out = Path(args.out)
    rows: list[dict[str, Any]] = []
    for path in sorted((out / ROWS_DIR).glob("*.json")):
        rows += json.loads(path.read_text())
    order = [*TRAINED, *POST_HOC, *REFERENCES]
    rows.sort(key=lambda r: (order.index(r["variant"]), r["budget"] or 0, r["seed"] or 0))
    budgets = sorted({r["budget"] for r in rows if r["budget"]})
    aggregates = [a for v in order for b in budgets if (a := aggregate(rows, v, b))]
    report = {"rows": rows, "aggregates": aggregates, "verdict": apply_rule(rows),
              "commands": [f"benchmarks/fidelity_study.py {p} ..." for p in ("train", "evaluate", "collect")]}
    atomic_write_bytes(Path(args.json), (json.dumps(report, indent=2) + "\n").encode())
    print(markdown_table(aggregates, [r for r in rows if r["budget"] is None]))
    print(json.dumps(report["verdict"], indent=2))
    if args.plot:
        plot(aggregates, Path(args.plot))


TABLE = (("object translation", "object_translation"), ("object P(target)", "object_domain_probability"),
         ("background L1", "background_l1"), ("generator background L1", "background_l1_generator"),
         ("hand-made MMD x100", "offline_mmd_x100"), ("attention AUC", "attention_auc"))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return f"{value['mean']:.3f} ± {value['std']:.3f}" if value["std"] else f"{value['mean']:.3f}"
    return f"{value:.3f}"


def markdown_table(aggregates: list[dict[str, Any]], references: list[dict[str, Any]]) -> str:
    """Mean ± std over seeds, a2b / b2a in each cell; the reference rows below."""
    lines = ["| variant | budget | seeds | " + " | ".join(f"{c} a2b / b2a" for c, _ in TABLE) + " |",
             "|---|---:|---|" + "---|" * len(TABLE)]
    for a in aggregates:
        cells = [" / ".join(_cell(a.get(f"{k}_{d}")) for d in ("a2b", "b2a")) for _, k in TABLE]
        lines.append(f"| {a['variant']} | {a['budget']}x | {len(a['seeds'])} | " + " | ".join(cells) + " |")
    for r in references:
        cells = [" / ".join(_cell(r.get(f"{k}_{d}")) for d in ("a2b", "b2a")) for _, k in TABLE]
        lines.append(f"| {r['variant']} | - | - | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(aggregates: list[dict[str, Any]], path: Path) -> None:
    """Object translation and background L1 against the budget, per trained variant (mean ± std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("object_translation", "object translation (0 input, 1 counterpart)"),
              ("background_l1", "background L1 (composed)"), ("attention_auc", "attention ROC AUC")]
    fig, axes = plt.subplots(2, len(panels), figsize=(14, 7), squeeze=False)
    variants = list(dict.fromkeys(a["variant"] for a in aggregates))
    if len({a["budget"] for a in aggregates}) == 1:  # one budget: the variants side by side
        for i, d in enumerate(("a2b", "b2a")):
            for j, (key, title) in enumerate(panels):
                ax, pts = axes[i][j], [(k, a[f"{key}_{d}"]) for k, a in enumerate(aggregates) if a.get(f"{key}_{d}")]
                ax.errorbar([k for k, _ in pts], [v["mean"] for _, v in pts], yerr=[v["std"] for _, v in pts],
                            fmt="o", capsize=4)
                ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right", fontsize=7)
                ax.set_title(f"{title}, {d} (mean ± std over seeds)", fontsize=9)
                ax.grid(alpha=0.3)
        fig.tight_layout()
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=90)
        tmp.replace(path)
        print(f"plot -> {path}")
        return
    for i, d in enumerate(("a2b", "b2a")):
        for j, (key, title) in enumerate(panels):
            ax = axes[i][j]
            for v in variants:
                pts = [(a["budget"], a[f"{key}_{d}"]) for a in aggregates if a["variant"] == v and a.get(f"{key}_{d}")]
                if pts:
                    xs, vals = zip(*pts)
                    ax.errorbar(xs, [p["mean"] for p in vals], yerr=[p["std"] for p in vals], marker="o", label=v,
                                capsize=3)
            ax.set_title(f"{title}, {d}", fontsize=9)
            ax.set_xlabel("budget (x the shipped 9 + 9 epochs, each fully decayed)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(path)
    print(f"plot -> {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["train", "evaluate", "collect"])
    p.add_argument("--data", help="prepared folder (trainA/ trainB/ testA/ testB/, masks and counterparts)")
    p.add_argument("--out", required=True, help="study folder: one subfolder per run")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every run, under the variant's own (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--only", nargs="*", default=[], help="run or variant names to restrict the phase to")
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/fidelity.json"))
    p.add_argument("--plot", default=None, help="PNG of the study (collect)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.phase == "train":
        train_plan(args)
    elif args.phase == "evaluate":
        if not args.data:
            p.error("evaluate needs --data")
        evaluate_runs(args)
    else:
        collect(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
