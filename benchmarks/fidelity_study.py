"""Background-fidelity study: SPA-GAN variants and the CycleGAN baseline at several training budgets.

Each variant trains ONE long run on the prepared data, with the learning-rate schedule of the
largest budget (constant lr for the first half of it, then linear decay to zero, as CycleGAN's
schedule scaled up). At each budget (a multiple of the demo's steps: 1x = 2,160 steps at the
shipped params) the run stops, its checkpoint is copied aside and evaluated (background L1,
attention ROC AUC, attention in mask, share classified as the target; KID when Inception weights
are on disk), then training resumes to the next budget. So the 1x and 2x rows are taken at the
constant learning rate, and only the largest budget has decayed to zero.

  .venv/bin/python benchmarks/fidelity_study.py --data DATA/prepared --out RUNS --variant spagan \
      --budgets 1 2 4 --threads 1
  .venv/bin/python benchmarks/fidelity_study.py --collect RUNS --json benchmarks/results/fidelity.json \
      --plot docs/fidelity.png

Variants run one per process (several side by side: --threads 1 each); --collect merges every
variant's rows into one list of {"variant", "steps", "<metric>_a2b", "<metric>_b2a", ...}.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.ablation import VARIANTS, _flat_overrides  # noqa: E402
from spagan.fileio import atomic_write_bytes  # noqa: E402
from spagan.report import DIRECTIONS  # noqa: E402

log = logging.getLogger("fidelity_study")

# Variants of the study (issue 13). Each pins the attention reading it measures, so the study means
# the same whatever params.yaml ships: `spagan` is the paper's reading (post-LeakyReLU features, the
# translation G(A(x) * x)); the ablation's other two variants and the candidates change it by one key.
PAPER = {"model.attention_features": "post_act", "model.attention_blend": False}
STUDY_VARIANTS: dict[str, dict[str, Any]] = {
    **{name: {**PAPER, **overrides} for name, overrides in VARIANTS.items()},
    # open choices of the paper (SPEC section 1), each one key away from the paper's reading
    "spagan_pre_act": {**PAPER, "model.attention_features": "pre_act"},
    "spagan_no_detach": {**PAPER, "model.attention_detach": False},
    "spagan_fm_attended": {**PAPER, "train.fm_pairing": "attended"},
    # a departure from the paper (model.attention_blend): low-attention pixels keep the input
    "spagan_blend": {**PAPER, "model.attention_blend": True},
    # what the demo's params.yaml ships
    "spagan_pre_act_blend": {"model.attention_features": "pre_act", "model.attention_blend": True},
}
# metrics.json key -> row key prefix
ROW_METRICS = {"background_l1": "background_l1", "attention_auc": "attention_auc",
               "attention_in_mask": "attention_in_mask", "success_share": "classified_as_target"}
ROWS_NAME = "rows.json"


def study_row(variant: str, steps: int, budget: float, lr_note: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of fidelity.json from an evaluation's metrics."""
    row: dict[str, Any] = {"variant": variant, "steps": steps, "budget": budget, "lr": lr_note}
    for key, name in ROW_METRICS.items():
        for d in DIRECTIONS:
            value = metrics[d].get(key)
            row[f"{name}_{d}"] = None if value is None else round(float(value), 4)
    for d in DIRECTIONS:
        kid = metrics[d].get("kid_x100")
        row[f"kid_x100_{d}"] = kid.get("mean") if isinstance(kid, dict) else None
    return row


def run_variant(args: argparse.Namespace) -> None:
    """Train one variant through every budget, evaluating at each; rows to OUT/<variant>/rows.json."""
    import torch

    from spagan.config import load_config
    from spagan.evaluate import evaluate
    from spagan.train import train
    from spagan.train_state import schedule_length

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    n_a = len(list((data / "trainA").iterdir()))
    n_b = len(list((data / "trainB").iterdir()))
    base = load_config(args.params, args.set)
    _, steps_1x = schedule_length(base.train, n_a, n_b)
    # epochs are whole numbers; --schedule lets a screening run stop at 1x under the 4x schedule
    scale = max(1, math.ceil(args.schedule or max(args.budgets)))
    overrides = {**_flat_overrides(args.set), **STUDY_VARIANTS[args.variant],
                 "train.epochs": base.train.epochs * scale, "train.epochs_decay": base.train.epochs_decay * scale}
    out = Path(args.out) / args.variant
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / ROWS_NAME
    rows = json.loads(rows_path.read_text()) if rows_path.exists() else []
    done = {r["steps"] for r in rows}
    lr_note = (f"constant {base.train.lr} for {base.train.epochs * scale} epochs, linear decay to 0 over "
               f"{base.train.epochs_decay * scale} (the schedule of the {scale}x budget)")
    for budget in sorted(args.budgets):
        steps = int(round(steps_1x * budget))
        if steps in done:
            continue
        cfg = load_config(args.params, {**overrides, "train.max_steps": steps})
        # resume=True: a checkpoint of another config is an error, never a silent fresh start
        trained = train(cfg, data, out / "train", device="cpu", resume=(out / "train" / "checkpoint.pt").exists())
        ckpt = out / f"checkpoint_{steps}.pt"
        shutil.copyfile(trained.checkpoint, ckpt)
        metrics = evaluate(cfg.eval, ckpt, data, out / f"eval_{steps}", device="cpu",
                           cache_dir=Path(args.out) / "feature_cache")
        rows.append(study_row(args.variant, trained.steps, budget, lr_note, metrics))
        atomic_write_bytes(rows_path, (json.dumps(rows, indent=2) + "\n").encode())
        log.info("%s at %d steps: %s", args.variant, trained.steps, rows[-1])


def collect(args: argparse.Namespace) -> None:
    """Merge every variant's rows into one JSON list (and a plot)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(args.collect).glob(f"*/{ROWS_NAME}")):
        rows += json.loads(path.read_text())
    for row in rows:  # seconds of one process only: a resumed run's earlier segments are not in it
        row.pop("train_seconds", None)
    order = list(STUDY_VARIANTS)
    rows.sort(key=lambda r: (order.index(r["variant"]) if r["variant"] in order else len(order), r["steps"]))
    atomic_write_bytes(Path(args.json), (json.dumps(rows, indent=2) + "\n").encode())
    print(markdown_table(rows))
    print(f"{len(rows)} rows -> {args.json}")
    if args.plot:
        plot(rows, Path(args.plot))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (a2b / b2a in each cell)."""
    cols = [("background L1", "background_l1", 3), ("attention AUC", "attention_auc", 3),
            ("attention in mask", "attention_in_mask", 3), ("classified as target", "classified_as_target", 2)]
    lines = ["| variant | steps | " + " | ".join(f"{c} a2b / b2a" for c, _, _ in cols) + " |",
             "|---|---:|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for _, key, digits in cols:
            cells.append(" / ".join("-" if r[f"{key}_{d}"] is None else f"{r[f'{key}_{d}']:.{digits}f}"
                                    for d in DIRECTIONS))
        lines.append(f"| {r['variant']} | {r['steps']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Background L1, attention AUC and share classified as target against steps, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("background_l1", "background L1 [0,1] (lower: background kept)"),
              ("attention_auc", "attention ROC AUC (object vs background)"),
              ("classified_as_target", "share classified as target")]
    fig, axes = plt.subplots(len(DIRECTIONS), len(panels), figsize=(15, 8), squeeze=False)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for i, d in enumerate(DIRECTIONS):
        for j, (key, title) in enumerate(panels):
            ax = axes[i][j]
            for v in variants:
                pts = [(r["steps"], r[f"{key}_{d}"]) for r in rows if r["variant"] == v and r[f"{key}_{d}"] is not None]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=v)
            ax.set_title(f"{title}, {d}", fontsize=9)
            ax.set_xlabel("training steps")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(path)
    print(f"plot -> {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="prepared folder (trainA/ trainB/ testA/ testB/ + masks)")
    p.add_argument("--out", help="study folder: one subfolder per variant")
    p.add_argument("--variant", choices=list(STUDY_VARIANTS))
    p.add_argument("--budgets", type=float, nargs="+", default=[1, 2, 4], help="multiples of the demo's steps")
    p.add_argument("--schedule", type=float, default=None,
                   help="budget whose lr schedule every budget runs under (default: the largest of --budgets)")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every variant")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 per process when running side by side)")
    p.add_argument("--collect", metavar="RUNS", help="merge RUNS/*/rows.json instead of training")
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/fidelity.json"))
    p.add_argument("--plot", default=None, help="PNG of the study (with --collect)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.collect:
        collect(args)
    elif args.data and args.out and args.variant:
        run_variant(args)
    else:
        p.error("give --data, --out and --variant (train), or --collect RUNS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
