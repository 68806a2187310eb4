"""`spagan evaluate`: KID, the offline yardstick (object translation, domain score, distribution
score, background change, each with its reference rows), attention localisation and galleries."""

import argparse
import json
from typing import Any

from spagan.config import load_config
from spagan.evaluation.masked_report import LEGEND as MASKED_LEGEND
from spagan.evaluation.masked_report import masked_rows
from spagan.evaluation.report import DIRECTIONS, METRICS_NAME, REFERENCE_LEGEND, report_rows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint on testA/ testB/ and write metrics.json + galleries")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt, model.safetensors or a model/run folder")
    p.add_argument("--data", required=True, help="folder with testA/ testB/ (trainA/ trainB/, masks/ optional)")
    p.add_argument("--out", required=True, help="output folder: metrics.json and gallery/*.png")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a param, e.g. --set eval.inception_weights=fid (repeatable)")
    p.add_argument("--cache-dir", default=None, help="feature cache of real images (default: OUT/feature_cache)")
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda[:N]")
    p.add_argument("--json", action="store_true", help="print the full metrics JSON instead of the table")
    p.add_argument("--post-hoc-blend", action="store_true",
                   help="blend every translation with the source discriminator's map, as model.attention_blend "
                        "does, on a model not trained so (CycleGAN included): the blend's mechanical share")
    p.add_argument("--dry-run", action="store_true",
                   help="check the checkpoint, testA/ testB/ and the device, print the plan and exit: 0 only when "
                        "a real evaluation would start")
    p.set_defaults(func=run)


def summary_table(metrics: dict[str, Any]) -> str:
    """A short plain-text table of the headline numbers per direction."""
    masked = masked_rows(metrics)  # real masks (testA_mask/): attention and change inside vs outside
    rows = [("", *DIRECTIONS), *report_rows(metrics), *masked,
            ("gallery", *(str(metrics[d]["gallery"] or "-") for d in DIRECTIONS))]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    ckpt, data = metrics["checkpoint"], metrics["data"]
    lines.append(REFERENCE_LEGEND)
    if masked:
        lines.append(MASKED_LEGEND)
    learned = metrics["settings"].get("learned_domain_classifier", {})
    if "test_sanity" in learned:
        t, c = learned["test_sanity"], learned["calibration"]
        lines.append(f"learned classifier (trained on trainA vs trainB only): accuracy {t['accuracy']:.3f} on the "
                     f"real testA/testB images ({t['n_A']} + {t['n_B']}), calibration error {t['ece']:.3f} there, "
                     f"{c['ece']:.3f} on its held-out training slice; cache "
                     f"{'hit' if learned['cache']['hit'] else 'miss'} ({learned['cache']['seconds']} s)")
    lines.append(f"model sha256 {ckpt['sha256'][:16]}  data version {data['data_version'] or 'unknown'}")
    k = metrics["a2b"]["kid_x100"]
    if "mean" not in k:
        lines.append(f"KID not computed: {k.get('reason')}; fix: {k.get('fix')}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.params, args.overrides)
    from spagan.evaluation.preflight import format_eval_plan, plan_evaluation  # torch import only past the params check

    plan = format_eval_plan(plan_evaluation(args.checkpoint, args.data, args.out, device=args.device))
    if args.dry_run:
        print("dry run: a real evaluation would start")
        print(plan)
        return 0
    from spagan.evaluation.evaluate import evaluate

    metrics = evaluate(cfg.eval, args.checkpoint, args.data, args.out, device=args.device, cache_dir=args.cache_dir,
                       post_hoc_blend=args.post_hoc_blend)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(summary_table(metrics))
        print(f"written: {args.out}/{METRICS_NAME}")
    return 0
