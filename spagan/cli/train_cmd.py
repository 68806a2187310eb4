"""`spagan train`: train SPA-GAN from params.yaml on a CycleGAN-layout folder.

Every run starts with spagan.training.preflight's check; `--dry-run` stops after it, so "would this run
start?" has one answer.

SIGINT or SIGTERM (Ctrl-C, `kill`, a cancelled Dagster run, a pod shut down) stops training after the
step in progress: a checkpoint of that step is written (atomically) and the command exits with 128 +
the signal number, so `--resume` continues where it stopped. A second signal interrupts at once
(the last periodic checkpoint stays).

With train.eval_every > 0 the command wires the evaluation callback (spagan.evaluation.
training_eval) into the loop, which knows no evaluation code: every eval_every epochs it scores
a slice of the training split (train.eval_split: by default the last train.eval_images images of
trainA/ and trainB/, held out of training; never the test split) and keeps eval_curve.csv and best.pt.
"""

import argparse
import json
import os
import signal
import sys
import threading
from types import FrameType

from tqdm import tqdm

from spagan.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train SPA-GAN (or the CycleGAN baseline) on trainA/ trainB/")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--data", required=True, help="folder with trainA/ and trainB/")
    p.add_argument("--out", required=True,
                   help="run folder: checkpoint, logs, resolved config, previews/, tensorboard/")
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
    evaluator = None
    if cfg.train.eval_every and os.environ.get("RANK", "0") == "0":  # only the main process evaluates
        from spagan.evaluation.training_eval import TrainingEvaluator

        evaluator = TrainingEvaluator(cfg, args.data, device=args.device,
                                      cache_dir=os.path.join(args.out, "eval_feature_cache"))
    # In a log (DVC, Dagster, CI) redraw rarely: every redraw is a line in the file.
    bar = tqdm(desc="train", unit="step", dynamic_ncols=True, mininterval=0.2 if sys.stderr.isatty() else 30)

    def on_progress(info: dict) -> None:
        if bar.total is None:  # first step of this run (a resumed run starts past 0)
            bar.reset(total=info["total_steps"])
            bar.update(info["step"] - 1)
        bar.set_postfix(G=f"{info['G']:.3f}", D=f"{info['D_A'] + info['D_B']:.3f}", lr=f"{info['lr']:.2e}",
                        img_s=f"{info['images_per_s']:.1f}", refresh=False)
        bar.update(1)

    with StopSignals() as stop:
        try:
            result = train(cfg, args.data, args.out, device=args.device, resume=resume, on_progress=on_progress,
                           should_stop=stop.asked, evaluator=evaluator)
        finally:
            bar.close()
    print(json.dumps(result_dict(result), indent=2))
    if stop.signum is None:
        return 0
    name = signal.Signals(stop.signum).name
    print(f"spagan train: stopped by {name} at step {result.steps} of {result.total_steps}; checkpoint "
          f"{result.checkpoint} (run again with --resume to continue)", file=sys.stderr, flush=True)
    return 128 + stop.signum


class StopSignals:
    """While entered (main thread only), the first SIGINT or SIGTERM is recorded for `asked()`, which
    the training loop polls at every step; a second one raises KeyboardInterrupt. The previous
    handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def asked(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        # os.write, not print: the handler may run while tqdm is writing to sys.stderr, and a
        # buffered stream refuses to be re-entered.
        os.write(2, f"\nspagan train: {signal.Signals(signum).name} received: stopping after this step "
                    f"(a second signal stops at once)\n".encode())

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
