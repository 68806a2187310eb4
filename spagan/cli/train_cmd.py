"""`spagan train`: train SPA-GAN from params.yaml on a CycleGAN-layout folder.

Every run starts with spagan.training.preflight's check; `--dry-run` stops after it, so "would this run
start?" has one answer.
"""

import argparse
import json
import os
import sys

from tqdm import tqdm

from spagan.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train SPA-GAN (or the CycleGAN baseline) on trainA/ trainB/")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--data", required=True, help="folder with trainA/ and trainB/")
    p.add_argument("--out", required=True, help="run folder: checkpoint, logs, resolved config")
    p.add_argument("--resume", nargs="?", const="strict", choices=("strict", "auto"), default=None,
                   help="continue from OUT/checkpoint.pt (auto: only if its config matches, else start fresh)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a param, e.g. --set train.lambda_fm=0 (repeatable)")
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda[:N]")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything a run needs (params, data, image sizes, device, room for the "
                        "checkpoint), print the plan and the resolved config, and exit: 0 only when a real run "
                        "would start")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.params, args.overrides)
    from spagan.training.preflight import format_plan, plan_training  # torch import only past the params check

    plan = format_plan(plan_training(cfg, args.data, args.out, device=args.device))  # the same check a run makes
    if args.dry_run:
        print("dry run: a real run would start")
        print(plan)
        print("resolved config:")
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    if os.environ.get("RANK", "0") == "0":  # torchrun: one plan, not one per process
        print(plan, file=sys.stderr)
    from spagan.training.loop import result_dict, train

    resume = {"strict": True, "auto": "auto", None: False}[args.resume]
    # In a log (DVC, Dagster, CI) redraw rarely: every redraw is a line in the file.
    bar = tqdm(desc="train", unit="step", dynamic_ncols=True, mininterval=0.2 if sys.stderr.isatty() else 30)

    def on_progress(info: dict) -> None:
        if bar.total is None:  # first step of this run (a resumed run starts past 0)
            bar.reset(total=info["total_steps"])
            bar.update(info["step"] - 1)
        bar.set_postfix(G=f"{info['G']:.3f}", D=f"{info['D_A'] + info['D_B']:.3f}", lr=f"{info['lr']:.2e}",
                        img_s=f"{info['images_per_s']:.1f}", refresh=False)
        bar.update(1)

    try:
        result = train(cfg, args.data, args.out, device=args.device, resume=resume, on_progress=on_progress)
    finally:
        bar.close()
    print(json.dumps(result_dict(result), indent=2))
    return 0
