"""`spagan ablation`: SPA-GAN vs. SPA-GAN without the feature map loss vs. the CycleGAN baseline."""

import argparse
import shlex
import sys

from spagan.evaluation.ablation import TABLE_NAME, VARIANTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablation", help="train and evaluate SPA-GAN, SPA-GAN without FM loss and CycleGAN; "
                                        "print one table of every metric")
    p.add_argument("--data", required=True, help="prepared folder with trainA/ trainB/ testA/ testB/ (+ masks)")
    p.add_argument("--out", required=True, help="output folder: ablation.md, ablation.json, one folder per variant")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a param for every variant, e.g. --set train.max_steps=400 (repeatable)")
    p.add_argument("--only", action="append", choices=list(VARIANTS), default=None,
                   help="run only this variant (repeatable; default: all)")
    p.add_argument("--cache-dir", default=None, help="Inception feature cache (default: OUT/feature_cache)")
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda[:N]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spagan.evaluation.ablation import run_ablation  # torch import only when running

    variants = {name: VARIANTS[name] for name in (args.only or VARIANTS)}
    words = ["spagan", "ablation", "--data", args.data, "--out", args.out, "--params", args.params]
    words += [w for o in args.overrides for w in ("--set", o)] + [w for o in args.only or [] for w in ("--only", o)]
    command = shlex.join(words)  # recorded above the table
    report = run_ablation(args.params, args.data, args.out, overrides=args.overrides, variants=variants,
                          device=args.device, cache_dir=args.cache_dir, command=command,
                          on_variant=lambda name, _: print(f"ablation: {name} done", file=sys.stderr))
    print(report["markdown"])
    print(f"written: {args.out}/{TABLE_NAME}")
    return 0
