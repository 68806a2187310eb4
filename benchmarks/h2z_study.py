"""The horse2zebra study at the paper's discriminator geometry (issue 30): does SPA-GAN beat CycleGAN
on real photographs? Rule and verdict in docs/fidelity.md ("horse2zebra at the paper's geometry").

Every run trains on the official horse2zebra training split (prepared with `data.dedupe: report`,
so every image is kept) with the study's settings (SETTINGS: resolution, networks, budget, chosen
from measured seconds per step), its variant's switches (TRAINED) and its seed; each is a finished
model with its own fully decayed schedule.

  # 0. the data: horse2zebra in report mode, and the Weizmann horses as a masked testA
  .venv/bin/python benchmarks/h2z_study.py prepare --out /work/studies/h2z
  # 1. train the plan: two processes share it, one thread each (resumable; a run with a row is
  #    skipped); each run is evaluated on the test split and the Weizmann horses when it finishes
  for i in 1 2; do nice .venv/bin/python benchmarks/h2z_study.py train --out /work/studies/h2z & done; wait
  # 2. (only if a run finished without its row, e.g. evaluation failed) evaluate what is left
  .venv/bin/python benchmarks/h2z_study.py evaluate --out /work/studies/h2z
  # 3. rows, aggregates and the rule's verdict -> benchmarks/results/h2z_study.json
  .venv/bin/python benchmarks/h2z_study.py collect --out /work/studies/h2z

The study folder (data, checkpoints) lies outside the repository; each run is evaluated by the
process that trained it as soon as it finishes, and its row is written into the repository
(benchmarks/results/h2z_study_rows/, one file per run, committed as they come), because a study
folder does not outlive the development machine: a later session, on a new machine, trains only
the runs that have no row yet.
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

from fidelity_study import Run, _cell, _write_rows, aggregate, train_runs  # noqa: E402

from spagan.core.fileio import atomic_write_bytes  # noqa: E402

log = logging.getLogger("h2z_study")

SHARED_DATA = ROOT.parent / "shared" / "data"

# The study's settings for every run (the same generator, discriminator geometry and schedule for
# every variant); chosen from measured seconds per step so the whole plan fits ONE session's two
# cores (docs/fidelity.md, "The plan"): development machines are replaced between sessions, so a
# study folder outside the repository does not outlive the session, and the first plan (128 px,
# ngf 32, 43 hours) lost its runs when the machine was reset on 2026-12-07.
SETTINGS: dict[str, Any] = {
    # 64 px with the paper's geometry there (auto = 1 layer: 16 px patches, 25% of the side; a 31 x 31
    # map); load 72 = CycleGAN's 286/256 ratio. ngf 16, 4 blocks: 0.142 / 0.163 CPU s a step on one
    # thread (benchmarks/results/train_step_cpu_1thread_ngf16.json), so 2 + 2 epochs of 1,334 steps
    # take about 13 CPU minutes a run. Measured on 2026-12-07: 19-47 min of wall time a run (0.19 s a
    # step alone, more while tests shared the cores), the 11 runs 2.4 hours two or three at a time.
    "model.n_layers_d": "auto", "train.image_size": 64, "train.load_size": 72,
    "model.ngf": 16, "model.n_blocks": 4, "model.ndf": 64,
    "train.epochs": 2, "train.epochs_decay": 2, "train.max_steps": 0, "train.eval_every": 0,
    "watch.checkpoint_every": 500, "watch.log_every": 50, "watch.tensorboard": False, "watch.preview_every": 1334,
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
    """Train every planned run that has no row yet (an interrupted one resumes), on the prepared
    data, and evaluate each run this process finishes at once, so its row lands as it comes."""
    args.data = str(Path(args.out) / "h2z" / "prepared")
    if not Path(args.data, "trainA").is_dir():
        raise SystemExit(f"{args.data}: not prepared; run `benchmarks/h2z_study.py prepare --out {args.out}` first")
    with_settings(args)
    for run in plan():
        if (Path(args.rows) / f"{run.name}.json").exists():
            continue
        if train_runs(args, [(run, run_overrides(run))]):
            try:
                evaluate_runs(args, only=[run.name])
            except Exception:  # the next run still trains; `evaluate` retries this one later
                log.exception("evaluating %s failed; run `h2z_study.py evaluate` after fixing the cause", run.name)


# The measures of a row: (row key, where in metrics.json, better). Test split, both directions:
# the learned yardstick (docs/evaluation.md); Weizmann horses as a masked testA, horse -> zebra only.
DIRECTIONS = ("a2b", "b2a")
LEARNED = (("learned_domain_probability", "higher"), ("learned_domain_share", "higher"),
           ("learned_mmd_x100", "lower"), ("success_share", "higher"), ("offline_mmd_x100", "lower"))
REFERENCE_ROWS = ("input_as_output", "constant_grey", "constant_mean")


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("mean")
    return None if value is None or value != value else round(float(value), 4)


def test_row(metrics: dict[str, Any], reference: str | None = None) -> dict[str, Any]:
    """The learned yardstick's measures of one evaluation (or of one of its do-nothing rows) on the
    test split, per direction, with the do-nothing flags of the translation's."""
    from spagan.evaluation.report import metric_value

    row: dict[str, Any] = {}
    for d in DIRECTIONS:
        for key, _ in LEARNED:
            value = metric_value(metrics, d, key, reference)
            row[f"{key}_{d}"] = None if value is None else round(value, 4)
        if reference is None:
            for key, _ in LEARNED:
                flag = metrics[d].get("do_nothing", {}).get(key)
                row[f"{key}_{d}_fails_do_nothing"] = None if flag is None else flag["fails_do_nothing"]
    return row


def masks_row(metrics: dict[str, Any], attention: str = "attention", change: str = "translation") -> dict[str, Any]:
    """D_A's attention on the Weizmann horses and the change inside / outside them (a2b), for the
    model's rows or a reference row (attention: uniform | centre_prior; change: input_as_output | ...)."""
    block = metrics["a2b"].get("real_masks")
    if not block:
        return {}
    att, chg = block["attention"].get(attention, {}), block["change"].get(change, {})
    return {"attention_auc_a2b": _number(att.get("auc")), "attention_in_mask_a2b": _number(att.get("in_mask")),
            "change_inside_a2b": _number(chg.get("inside")), "change_outside_a2b": _number(chg.get("outside")),
            "change_ratio_a2b": _number(chg.get("ratio")), "n_masked": block["n_images"]}


def d_map_row(eval_cfg: Any, folder: Path, out: Path, cache: Path) -> dict[str, Any]:
    """The control for SPA-GAN's attention: the map CycleGAN's own D_A computes on the Weizmann horses
    (the post-hoc reading: the same Eq. 1 on a discriminator that never fed its map to G), so its
    AUC says what any discriminator of this geometry finds without the attention mechanism."""
    from spagan.evaluation.evaluate import evaluate

    metrics = evaluate(eval_cfg, folder / "train" / "checkpoint.pt", out / "weizmann" / "prepared",
                       folder / "eval_weizmann_d_map", device="cpu", cache_dir=cache, post_hoc_blend=True)
    block = metrics["a2b"].get("real_masks")
    att = block["attention"]["attention"] if block else {}  # no masks: the control is None
    return {"d_map_auc_a2b": _number(att.get("auc")), "d_map_in_mask_a2b": _number(att.get("in_mask"))}


def add_d_maps(args: argparse.Namespace) -> None:
    """d_map_row for every CycleGAN row evaluated before the control existed (the row file rewritten)."""
    from spagan.config import load_config
    from spagan.evaluation.ablation import _flat_overrides

    out, eval_cfg = Path(args.out), load_config(args.params, _flat_overrides(args.set)).eval
    for path in sorted(Path(args.rows).glob("cyclegan_*.json")):
        rows = json.loads(path.read_text())
        if "d_map_auc_a2b" in rows[0] or not (out / path.stem / "train" / "checkpoint.pt").exists():
            continue
        rows[0].update(d_map_row(eval_cfg, out / path.stem, out, out / "eval_feature_cache"))
        _write_rows(path, rows)
        log.info("%s: CycleGAN's D_A map AUC %s", path.stem, rows[0]["d_map_auc_a2b"])


def evaluate_runs(args: argparse.Namespace, only: list[str] | None = None) -> None:
    """Evaluate every finished run not yet evaluated (or those named in only), on the test split and
    on the Weizmann horses; the do-nothing rows once (the same for every run)."""
    from spagan.config import load_config
    from spagan.evaluation.evaluate import evaluate
    from spagan.evaluation.ablation import _flat_overrides

    out = Path(args.out)
    eval_cfg = load_config(args.params, _flat_overrides(args.set)).eval
    cache = out / "eval_feature_cache"
    rows_dir = Path(args.rows)
    names = only if only is not None else args.only
    for run in plan():
        if names and run.name not in names and run.variant not in names:
            continue
        folder = out / run.name
        done_path, rows_path = folder / "done.json", rows_dir / f"{run.name}.json"
        if not done_path.exists() or rows_path.exists():
            continue
        done = json.loads(done_path.read_text())
        ckpt = folder / "train" / "checkpoint.pt"
        test = evaluate(eval_cfg, ckpt, out / "h2z" / "prepared", folder / "eval_test", device="cpu", cache_dir=cache)
        masks = evaluate(eval_cfg, ckpt, out / "weizmann" / "prepared", folder / "eval_weizmann", device="cpu",
                         cache_dir=cache)
        row = {"variant": run.variant, "budget": 1, "seed": run.seed, "steps": done["train"]["steps"],
               "train_seconds": round(done["seconds_this_process"], 1), "trained": True,
               **test_row(test), **masks_row(masks), "data_version": test["data"]["data_version"],
               "model_sha256": test["checkpoint"]["sha256"]}
        if run.variant == "cyclegan":
            row.update(d_map_row(eval_cfg, folder, out, cache))
        if not (rows_dir / "references.json").exists():
            refs = [{"variant": r, "budget": None, "seed": None, "trained": False, **test_row(test, r),
                     **masks_row(masks, "uniform", r if r == "input_as_output" else "constant_as_output")}
                    for r in REFERENCE_ROWS]
            refs.append({"variant": "centre_prior_map", "budget": None, "seed": None, "trained": False,
                         **masks_row(masks, "centre_prior", "input_as_output")})
            _write_rows(rows_dir / "references.json", refs)
        _write_rows(rows_path, [row])
        log.info("evaluated %s: learned P(target) %s / %s, Weizmann AUC %s", run.name,
                 row["learned_domain_probability_a2b"], row["learned_domain_probability_b2a"],
                 row.get("attention_auc_a2b"))


# The rule (docs/fidelity.md, "horse2zebra at the paper's geometry"), written before the numbers.
RULE_TRANSLATION = (("learned_domain_probability", "higher"), ("learned_mmd_x100", "lower"))
RULE_MASKS = (("change_outside_a2b", "lower"),)
AUC_NEEDED = 0.6
MIN_SEEDS = 3


def _bound(agg: dict[str, float], better: str) -> float:
    return agg["mean"] - agg["std"] if better == "higher" else agg["mean"] + agg["std"]


def _no_worse(value: float, base: float, better: str) -> bool:
    return value >= base if better == "higher" else value <= base


def ruled_measures(rows: list[dict[str, Any]], base: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The rule's measures (key with direction, better) that no do-nothing row passes; and why the
    others were dropped (a do-nothing row at least as good as CycleGAN's mean)."""
    refs = [r for r in rows if r["variant"] in REFERENCE_ROWS]
    keep, dropped = [], []
    candidates = [(f"{k}_{d}", b) for k, b in RULE_TRANSLATION for d in DIRECTIONS] + list(RULE_MASKS)
    for key, better in candidates:
        c = base.get(key)
        passing = [r["variant"] for r in refs if c is not None and r.get(key) is not None
                   and _no_worse(r[key], c["mean"], better)]
        if passing:
            dropped.append(f"{key}: do-nothing row(s) {', '.join(passing)} as good as CycleGAN's mean")
        else:
            keep.append((key, better))
    return keep, dropped


def auc_needed(rows: list[dict[str, Any]]) -> float:
    """The attention AUC a setting needs: AUC_NEEDED, and no less than the centre prior's (a map that
    knows only that photographers centre the horse; amended before any study number, see docs)."""
    prior = [r.get("attention_auc_a2b") for r in rows if r["variant"] == "centre_prior_map"]
    return round(max([AUC_NEEDED] + [p for p in prior if p is not None]), 4)


def apply_rule(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The verdict for every SPA-GAN setting against CycleGAN, and for the identity input."""
    base = aggregate(rows, "cyclegan", 1)
    verdict: dict[str, Any] = {"rule": "docs/fidelity.md, horse2zebra at the paper's geometry", "settings": {}}
    if base is None or len(base["seeds"]) < MIN_SEEDS:
        seeds = 0 if base is None else len(base["seeds"])
        verdict["why"] = f"no verdict yet: CycleGAN has {seeds} of {MIN_SEEDS} seeds"
        return verdict
    measures, dropped = ruled_measures(rows, base)
    verdict["dropped"] = dropped
    if not any(k.startswith(m) for k, _ in measures for m, _ in RULE_TRANSLATION):
        verdict["why"] = "no verdict: every translation measure is passed by a do-nothing row"
        return verdict
    for variant in TRAINED:
        agg = aggregate(rows, variant, 1)
        if variant == "cyclegan" or agg is None:
            continue
        reasons, checks = [], {}
        if len(agg["seeds"]) < MIN_SEEDS:
            reasons.append(f"{len(agg['seeds'])} seed(s), the rule needs {MIN_SEEDS}")
        for key, better in measures:
            s, c = agg.get(key), base.get(key)
            if s is None or c is None:
                reasons.append(f"{key} missing")
                continue
            ok = _no_worse(_bound(s, better), c["mean"], better)
            checks[key] = {"bound": round(_bound(s, better), 4), "cyclegan": round(c["mean"], 4), "passes": ok}
            if not ok:
                reasons.append(f"{key}: bound {_bound(s, better):.3f} vs CycleGAN {c['mean']:.3f}")
        auc, needed = agg.get("attention_auc_a2b"), auc_needed(rows)
        checks["attention_auc_a2b"] = {"mean": None if auc is None else round(auc["mean"], 4), "needed": needed}
        if auc is None or auc["mean"] < needed:
            reasons.append(f"attention_auc_a2b below {needed} (0.6, and the centre prior's)")
        verdict["settings"][variant] = {"passes": not reasons, "reasons": reasons, "checks": checks}
    passing = [v for v, s in verdict["settings"].items() if s["passes"]]

    def success(v: str) -> float:
        agg = aggregate(rows, v, 1)
        return sum(agg[f"learned_domain_probability_{d}"]["mean"] for d in DIRECTIONS)

    verdict["recipe"] = max(passing, key=success) if passing else "spagan_paper"
    verdict["why"] = (f"{verdict['recipe']} beats CycleGAN by the rule" if passing else
                      "no SPA-GAN setting beats CycleGAN by the rule: the recipe keeps the paper's SPA-GAN")
    verdict["identity_input"] = identity_verdict(rows, measures)
    return verdict


def identity_verdict(rows: list[dict[str, Any]], measures: list[tuple[str, str]]) -> dict[str, Any]:
    """raw ships if the paper's SPA-GAN with the raw identity input is no worse (its bound against the
    attended runs' mean) on the translation measures, over 3 seeds each; otherwise attended stays."""
    raw, attended = aggregate(rows, "spagan_idt_raw", 1), aggregate(rows, "spagan_paper", 1)
    if raw is None or attended is None or min(len(raw["seeds"]), len(attended["seeds"])) < MIN_SEEDS:
        return {"default": "attended", "why": "not enough seeds yet: attended stays"}
    reasons = []
    for key, better in measures:
        if key.startswith(tuple(m for m, _ in RULE_TRANSLATION)) and raw.get(key) and attended.get(key):
            if not _no_worse(_bound(raw[key], better), attended[key]["mean"], better):
                bound = _bound(raw[key], better)
                reasons.append(f"{key}: raw bound {bound:.3f} vs attended {attended[key]['mean']:.3f}")
    return {"default": "attended" if reasons else "raw", "why": reasons or ["raw is no worse on every measure"]}


def collect(args: argparse.Namespace) -> None:
    """Every run's rows, the aggregates over seeds and the rule's verdict -> --json; a table printed."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(args.rows).glob("*.json")):
        rows += json.loads(path.read_text())
    order = [*TRAINED, *REFERENCE_ROWS, "centre_prior_map"]
    rows.sort(key=lambda r: (order.index(r["variant"]), r["seed"] or 0))
    aggregates = [a for v in TRAINED if (a := aggregate(rows, v, 1))]
    trained = [r for r in rows if r["trained"]]
    report = {"settings": SETTINGS, "trained": TRAINED, "rows": rows, "aggregates": aggregates,
              "verdict": apply_rule(rows),
              # wall time of the training processes (one thread each, two side by side), evaluation apart
              "train_hours": round(sum(r.get("train_seconds", 0) for r in trained) / 3600, 2),
              "runs": len(trained), "planned": [run.name for run in plan()],
              "commands": [f"benchmarks/h2z_study.py {p} --out STUDY"
                           for p in ("prepare", "train", "evaluate", "collect")]}
    atomic_write_bytes(Path(args.json), (json.dumps(report, indent=2) + "\n").encode())
    print(markdown_table(aggregates, [r for r in rows if not r["trained"]]))
    print(f"{len(trained)} of {len(plan())} planned runs, {report['train_hours']} hours of training (one thread each)")
    print(json.dumps(report["verdict"], indent=2))


TABLE = (("learned P(target) a2b / b2a", ("learned_domain_probability_a2b", "learned_domain_probability_b2a")),
         ("learned share a2b / b2a", ("learned_domain_share_a2b", "learned_domain_share_b2a")),
         ("learned MMD x100 a2b / b2a", ("learned_mmd_x100_a2b", "learned_mmd_x100_b2a")),
         ("Weizmann attention AUC", ("attention_auc_a2b",)),
         ("CycleGAN's D_A map AUC (post hoc)", ("d_map_auc_a2b",)),
         ("Weizmann change inside / outside", ("change_inside_a2b", "change_outside_a2b")))


def markdown_table(aggregates: list[dict[str, Any]], references: list[dict[str, Any]]) -> str:
    """Mean ± std over seeds per variant; the do-nothing rows below."""
    lines = ["| variant | seeds | " + " | ".join(c for c, _ in TABLE) + " |", "|---|---|" + "---|" * len(TABLE)]
    for a in aggregates:
        lines.append(f"| {a['variant']} | {len(a['seeds'])} | "
                     + " | ".join(" / ".join(_cell(a.get(k)) for k in keys) for _, keys in TABLE) + " |")
    for r in references:
        lines.append(f"| {r['variant']} | - | " + " | ".join(" / ".join(_cell(r.get(k)) for k in keys)
                                                        for _, keys in TABLE) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["prepare", "train", "evaluate", "collect"])
    p.add_argument("--out", required=True, help="study folder (outside the repository)")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every run, under the study's settings and the variant's own (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--only", nargs="*", default=[], help="run or variant names to restrict the phase to")
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/h2z_study.json"))
    p.add_argument("--rows", default=str(ROOT / "benchmarks/results/h2z_study_rows"),
                   help="one row file per evaluated run (in the repository, so rows outlive the machine)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.phase == "prepare":
        prepare(args)
    elif args.phase == "train":
        train_plan(args)
    elif args.phase == "evaluate":
        evaluate_runs(args)
        add_d_maps(args)
    else:
        collect(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
