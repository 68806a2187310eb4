"""Time one training step: SPA-GAN vs. our CycleGAN baseline vs. the independent yardstick.

Every variant runs in its own subprocess (clean peak memory), rounds interleave the variants
(this machine is noisy), and the report gives medians and ratios measured in the same run.

    python benchmarks/train_step.py --sizes 64 256 --iters 5 --rounds 2
    python benchmarks/train_step.py --sizes 256 --batch 4 --amp on --channels-last on   # on a GPU

Variants: spagan (attention on, lambda_fm 1), cyclegan (attention off, lambda_fm 0: our
baseline), reference (../shared/reference/cyclegan_step.py, plain fp32 eager CycleGAN, if present).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "cyclegan_step.py"


def worker(args: argparse.Namespace) -> None:
    """Run `iters` timed steps of one variant in this process and print a JSON line."""
    import torch

    sys.path.insert(0, str(ROOT))
    from spagan.config import load_config
    from spagan.device import autocast_factory, memory_format, pick_device
    from spagan.image_pool import ImagePool
    from spagan.models import build_networks
    from spagan.step import SpaGanStep

    overrides = [f"train.image_size={args.size}", f"train.batch_size={args.batch}", f"train.amp={args.amp}",
                 f"train.channels_last={args.channels_last}", f"model.ngf={args.ngf}", f"model.n_blocks={args.n_blocks}"]
    if args.variant == "cyclegan":
        overrides += ["model.attention=false", "train.lambda_fm=0"]
    cfg = load_config(ROOT / "params.yaml", overrides)
    dev = pick_device(args.device)
    fmt = memory_format(cfg.train.channels_last, dev)
    torch.manual_seed(0)
    nets = build_networks(cfg.model).to(dev, fmt)
    if args.compile:
        for name, m in nets.modules().items():
            setattr(nets, name, torch.compile(m))
    opt_G = torch.optim.Adam(list(nets.G.parameters()) + list(nets.F.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(list(nets.D_A.parameters()) + list(nets.D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    step = SpaGanStep(nets, cfg.model, cfg.train, opt_G, opt_D, ImagePool(50), ImagePool(50),
                      autocast_factory(cfg.train.amp, dev))
    shape = (args.batch, 3, args.size, args.size)
    real_a = (torch.rand(shape) * 2 - 1).to(dev, memory_format=fmt)
    real_b = (torch.rand(shape) * 2 - 1).to(dev, memory_format=fmt)
    times = []
    for it in range(args.iters + args.warmup):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step(real_a, real_b)  # returns floats: includes the device sync
        if it >= args.warmup:
            times.append(time.perf_counter() - t)
    out = {"median_s": statistics.median(times), "times": times,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if dev.type == "cuda":
        out["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def run_variant(variant: str, size: int, args: argparse.Namespace) -> dict:
    """One subprocess measurement of a variant; returns its JSON result."""
    if variant == "reference":
        cmd = [sys.executable, str(REFERENCE), str(size), str(args.iters), str(args.ngf), str(args.n_blocks)]
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return {"median_s": float(res.stdout.strip().splitlines()[-1]), "wall_s": time.perf_counter() - t}
    cmd = [sys.executable, __file__, "--worker", "--variant", variant, "--size", str(size), "--iters", str(args.iters),
           "--warmup", str(args.warmup), "--batch", str(args.batch), "--device", args.device, "--amp", args.amp,
           "--channels-last", args.channels_last, "--ngf", str(args.ngf), "--n-blocks", str(args.n_blocks)]
    if args.compile:
        cmd.append("--compile")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{variant} at {size}px failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--iters", type=int, default=5, help="timed steps per subprocess")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="interleaved repetitions of every variant")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", default="off", choices=("auto", "on", "off"))
    p.add_argument("--channels-last", default="off", choices=("auto", "on", "off"))
    p.add_argument("--compile", action="store_true")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--json", type=Path, help="also write the results here")
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="spagan", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    variants = ["spagan", "cyclegan"]
    if not args.no_reference and REFERENCE.exists() and args.batch == 1 and args.amp != "on" and not args.compile:
        variants.append("reference")
    results: dict = {}
    for size in args.sizes:
        for r in range(args.rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:
                res = run_variant(v, size, args)
                results.setdefault(size, {}).setdefault(v, []).append(res)
                print(f"  {size}px round {r + 1} {v}: {res['median_s']:.4f} s/step", file=sys.stderr)
    print(f"\nTraining step, batch {args.batch}, ngf {args.ngf}, {args.n_blocks} blocks, device {args.device}, "
          f"amp {args.amp}, channels_last {args.channels_last}, compile {args.compile}, "
          f"{os.cpu_count()} CPUs, torch threads default")
    header = f"{'size':>5} {'variant':>10} {'s/step':>9} {'img/s':>8} {'vs cyclegan':>12} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    summary = {}
    for size, by_variant in results.items():
        med = {v: statistics.median(x["median_s"] for x in runs) for v, runs in by_variant.items()}
        for v, s in med.items():
            peak = max((x.get("cuda_max_allocated_mib") or x.get("peak_rss_mib") or 0) for x in by_variant[v])
            print(f"{size:>5} {v:>10} {s:>9.4f} {2 * args.batch / s:>8.2f} {s / med['cyclegan']:>11.3f}x "
                  f"{peak:>9.0f}")
        summary[size] = med
    print()
    for size, med in summary.items():
        line = f"{size}px: SPA-GAN / CycleGAN baseline = {med['spagan'] / med['cyclegan']:.3f}x (target <= 1.10)"
        if "reference" in med:
            line += f"; baseline / yardstick = {med['cyclegan'] / med['reference']:.3f}x (target <= 1.00)"
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results},
                                        indent=2, default=str))


if __name__ == "__main__":
    main()
