"""What watching a run costs: the demo's training step with previews + TensorBoard off vs. on.

    nice .venv/bin/python benchmarks/tensorboard_overhead.py --steps 60 --warmup 10 --rounds 3 \\
        --json benchmarks/results/tensorboard_overhead.json

Each run is a real train() on the CPU with params.yaml as it is (the demo's 64 px networks, log
every step) on demo data (--data, default data/prepared, else a fresh demo set in a temp
folder), in its own subprocess; rounds interleave off and on. A step is the time between two
on_progress calls (data, step, log, checkpoint, watch: everything the loop does).

Previews at the demo's cadence (watch.preview_every, 250) would not fire in 60 steps, so the
"on" runs preview every --preview-every steps (default 20) and time RunWatch.step itself:
  overhead = (watch time of a step without a preview + watch time of a preview step
              / the demo's preview_every) / median step time with the watch off.
The side-by-side step medians (off vs. on) are reported too; on a shared machine their
difference is mostly noise at this size. One-off costs (importing TensorBoard, reading the
preview images) are reported in seconds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFF = ["watch.preview_every=0", "watch.tensorboard=false"]


def worker(args: argparse.Namespace) -> None:
    """One train() run; print a JSON line of step intervals and watch timings."""
    sys.path.insert(0, str(ROOT))
    import torch

    from spagan.config import load_config
    from spagan.training import watch as watch_mod
    from spagan.training.loop import train

    torch.set_num_threads(args.threads or torch.get_num_threads())
    watch = ["watch.tensorboard=true", f"watch.preview_every={args.preview_every}"] if args.on else OFF
    cfg = load_config(ROOT / "params.yaml", [f"train.max_steps={args.warmup + args.steps}", *watch])
    timings = {"start_s": 0.0, "plain": [], "preview": []}
    start, step = watch_mod.RunWatch.start, watch_mod.RunWatch.step

    def timed_start(*a, **k):
        t = time.perf_counter()
        out = start(*a, **k)
        timings["start_s"] = time.perf_counter() - t
        return out

    def timed_step(self, info, last):
        t = time.perf_counter()
        step(self, info, last)
        previewed = bool(self.preview_every) and (info["step"] % self.preview_every == 0 or last)
        if info["step"] > args.warmup:
            timings["preview" if previewed else "plain"].append(time.perf_counter() - t)

    watch_mod.RunWatch.start = classmethod(lambda cls, *a, **k: timed_start(*a, **k))
    watch_mod.RunWatch.step = timed_step
    stamps = []
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, args.data, Path(tmp) / "run", device="cpu",
              on_progress=lambda info: stamps.append(time.perf_counter()))
    intervals = [b - a for a, b in zip(stamps, stamps[1:])][args.warmup - 1:]
    print(json.dumps({"median_step_s": statistics.median(intervals), "intervals": intervals, **timings,
                      "threads": torch.get_num_threads()}))


def run_one(on: bool, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--data", str(args.data), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--preview-every", str(args.preview_every), "--threads", str(args.threads)]
    res = subprocess.run(cmd + (["--on"] if on else []), capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{'on' if on else 'off'} run failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def demo_data(path: Path | None, tmp: Path) -> Path:
    if path is not None:
        return path
    if (ROOT / "data" / "prepared" / "trainA").is_dir():
        return ROOT / "data" / "prepared"
    sys.path.insert(0, str(ROOT))
    from spagan.data.demo import generate_demo

    generate_demo(tmp / "demo", planted_duplicates=0, planted_broken=0)  # the demo's sizes and counts
    return tmp / "demo"


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    from spagan.config import load_config

    demo_every = load_config(ROOT / "params.yaml").watch.preview_every
    off = statistics.median(r["median_step_s"] for r in runs["off"])
    on = statistics.median(r["median_step_s"] for r in runs["on"])
    plain = statistics.median(t for r in runs["on"] for t in r["plain"])
    preview = statistics.median(t for r in runs["on"] for t in r["preview"])
    per_step = plain + (preview / demo_every if demo_every else 0.0)
    start = statistics.median(r["start_s"] for r in runs["on"])
    out = {"step_off_s": off, "step_on_s": on, "side_by_side_pct": 100 * (on / off - 1),
           "watch_plain_step_ms": 1000 * plain, "watch_preview_step_ms": 1000 * preview,
           "demo_preview_every": demo_every, "overhead_pct": 100 * per_step / off, "one_off_start_s": start,
           "rounds": args.rounds, "steps": args.steps, "warmup": args.warmup, "cpus": os.cpu_count(),
           "threads": runs["off"][0]["threads"], "load_avg": os.getloadavg(), "runs": runs}
    print(f"\nDemo step on the CPU (params.yaml as is), {args.rounds} round(s) x {args.steps} steps after "
          f"{args.warmup} warm-up, {out['threads']} thread(s), load average {out['load_avg'][0]:.2f}")
    print(f"  step, watch off:                 {off * 1000:8.1f} ms (median of run medians)")
    print(f"  step, watch on:                  {on * 1000:8.1f} ms ({out['side_by_side_pct']:+.2f}% side by side;"
          f" previews every {args.preview_every})")
    print(f"  RunWatch.step, no preview:       {plain * 1000:8.3f} ms (TensorBoard scalars)")
    print(f"  RunWatch.step, preview step:     {preview * 1000:8.1f} ms (draw, PNG, TensorBoard images, flush)")
    print(f"  overhead at the demo cadence (previews every {demo_every}): {out['overhead_pct']:.2f}% of a step "
          f"(target < 2%)")
    print(f"  one-off: RunWatch.start {start:.2f} s (TensorBoard import, preview images)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    p.add_argument("--rounds", type=int, default=3, help="interleaved off/on pairs")
    p.add_argument("--preview-every", type=int, default=20, help="preview cadence of the 'on' runs (>= 2)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--data", type=Path, help="demo data (default: data/prepared, else a fresh demo set)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--on", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.preview_every < 2 or args.steps < args.preview_every:
        p.error("--preview-every must be >= 2 and <= --steps (steps with and without a preview are timed)")
    if args.worker:
        return worker(args)
    with tempfile.TemporaryDirectory() as tmp:
        args.data = demo_data(args.data, Path(tmp))
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        for r in range(args.rounds):
            for on in (False, True):
                runs["on" if on else "off"].append(run_one(on, args))
                print(f"round {r + 1}/{args.rounds} {'on' if on else 'off'}: "
                      f"{runs['on' if on else 'off'][-1]['median_step_s'] * 1000:.1f} ms/step", flush=True)
        out = report(runs, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
