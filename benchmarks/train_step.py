"""Time one training step: SPA-GAN vs. our CycleGAN baseline vs. the independent yardstick,
and (on a GPU) fp32 eager vs. bf16 autocast vs. channels_last vs. torch.compile.

Every measurement runs in its own subprocess (clean peak memory, no shared caches); rounds
interleave the measurements (machines are noisy), and the report gives medians and ratios
measured in the same run.

    python benchmarks/train_step.py --sizes 64 128 256 --iters 3 --rounds 2          # CPU table
    python benchmarks/train_step.py --sizes 256 --batches 1 4 8 \\
        --settings fp32 bf16 bf16+cl bf16+cl+compile --variants spagan cyclegan        # GPU table
    python benchmarks/train_step.py --sizes 64 128 --threads 1 --set model.n_layers_d=auto \\
        --ngf 16 --n-blocks 4 --variants spagan cyclegan                               # study sizing (one thread)

Variants: spagan (attention on, lambda_fm 1), cyclegan (attention off, lambda_fm 0: our
baseline), reference (../shared/reference/cyclegan_step.py, a plain fp32 eager CycleGAN
iteration, if present; only at batch 1 and fp32, which is all it does). On CUDA the reference
is run unchanged with CUDA as torch's default device and a device sync at each of its clock
readings (it times itself with time.perf_counter, which would otherwise see only kernel launches).

Settings: `+`-joined switches over fp32 eager: bf16 (train.amp on), cl (train.channels_last on),
compile (train.compile on). Every setting also fixes train.fuse_passes (--fuse, default auto).

Backend settings on CUDA, the same for every variant (the yardstick included) and recorded in
each result: cuDNN's autotuner on (as train() sets it for its fixed crop size), and torch's
defaults for float32, under which convolutions run in TF32 (cudnn.allow_tf32 = True) while
matmuls stay fp32: so "fp32" rows on CUDA are labelled "fp32 (TF32 conv)".
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
SWITCHES = {"bf16": "train.amp=on", "cl": "train.channels_last=on", "compile": "train.compile=on"}

# Runs the yardstick as it is, on CUDA when asked (with our cuDNN autotuner setting, so both
# sides run the same backend), and reports its peak memory and backend flags.
REFERENCE_RUNNER = """
import json, resource, runpy, sys, time
import torch
path, device = sys.argv[1], sys.argv[2]
sys.argv = [path] + sys.argv[3:]
if device == "cuda":
    torch.set_default_device("cuda")
    torch.backends.cudnn.benchmark = True  # as spagan.core.device.configure_backends does for training
    clock = time.perf_counter
    time.perf_counter = lambda: (torch.cuda.synchronize(), clock())[1]
runpy.run_path(path, run_name="__main__")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if device == "cuda":
    print("CUDA_PEAK", torch.cuda.max_memory_allocated() / 2**20)
    print("FLAGS", json.dumps({"cudnn_benchmark": torch.backends.cudnn.benchmark,
                               "tf32_conv": torch.backends.cudnn.allow_tf32,
                               "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}))
print("RSS_PEAK", peak)
"""


def backend_flags(device_type: str) -> dict:
    """The CUDA backend settings that change speed and numerics (empty on the CPU)."""
    import torch

    if device_type != "cuda":
        return {}
    return {"cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "tf32_conv": bool(torch.backends.cudnn.allow_tf32),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32)}


def setting_label(setting: str, flags: dict) -> str:
    """How a setting reads in the table: float32 settings on CUDA say when convolutions are TF32."""
    if "bf16" not in setting.split("+") and flags.get("tf32_conv"):
        return f"{setting} (TF32 conv)"
    return setting


def setting_overrides(setting: str) -> list[str]:
    """'bf16+cl' -> the config overrides of that setting (fp32 eager for 'fp32')."""
    parts = [p for p in setting.split("+") if p != "fp32"]
    unknown = [p for p in parts if p not in SWITCHES]
    if unknown:
        raise SystemExit(f"unknown setting part(s) {unknown} in {setting!r}: use fp32 or +-joined {sorted(SWITCHES)}")
    return ["train.amp=off", "train.channels_last=off", "train.compile=off"] + [SWITCHES[p] for p in parts]


def worker(args: argparse.Namespace) -> None:
    """Run `iters` timed steps of one variant in this process and print a JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    from spagan.config import load_config
    from spagan.core.device import autocast_factory, pick_device
    from spagan.training.image_pool import ImagePool
    from spagan.training.state import build_trainables
    from spagan.training.step import SpaGanStep

    # load_size follows the crop size: the step is timed on ready tensors, nothing is loaded or cropped.
    overrides = [f"train.image_size={args.size}", f"train.load_size={args.size}", f"train.batch_size={args.batch}",
                 f"model.ngf={args.ngf}", f"model.n_blocks={args.n_blocks}", f"train.fuse_passes={args.fuse}",
                 *setting_overrides(args.setting)]
    if args.variant == "cyclegan":
        overrides += ["model.attention=false", "train.lambda_fm=0"]
    overrides += args.set
    cfg = load_config(ROOT / "params.yaml", overrides)
    dev = pick_device(args.device)
    torch.manual_seed(0)
    nets, opt_G, opt_D, fmt = build_trainables(cfg, dev)  # exactly as train() builds them
    pools = ImagePool(cfg.train.pool_size), ImagePool(cfg.train.pool_size)
    step = SpaGanStep(nets, cfg.model, cfg.train, opt_G, opt_D, *pools,
                      autocast_factory(cfg.train.amp, dev))
    shape = (args.batch, 3, args.size, args.size)
    real_a = (torch.rand(shape) * 2 - 1).to(dev, memory_format=fmt)
    real_b = (torch.rand(shape) * 2 - 1).to(dev, memory_format=fmt)
    times, cpu_times, started = [], [], time.perf_counter()
    for it in range(args.iters + args.warmup):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        step(real_a, real_b)  # returns floats: includes the device sync
        if it >= args.warmup:
            times.append(time.perf_counter() - t)
            # CPU seconds of this process: with one thread on a loaded machine, closer than the
            # wall clock to what the step costs on a core of its own.
            cpu_times.append(time.process_time() - c)
        elif it == args.warmup - 1 and dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
    out = {"median_s": statistics.median(times), "times": times, "cpu_median_s": statistics.median(cpu_times),
           "cpu_times": cpu_times, "wall_s": time.perf_counter() - started,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "device": str(dev),
           "backend": backend_flags(dev.type), "threads": torch.get_num_threads(),
           "n_layers_d": cfg.model.n_layers_d}
    if dev.type == "cuda":
        out["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(out))


def run_reference(size: int, args: argparse.Namespace) -> dict:
    """The yardstick in a subprocess: its median seconds per iteration and peak memory."""
    import torch

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    cmd = [sys.executable, "-c", REFERENCE_RUNNER, str(REFERENCE), device, str(size), str(args.iters), str(args.ngf),
           str(args.n_blocks)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"reference at {size}px failed:\n{res.stderr[-2000:]}")
    lines = res.stdout.strip().splitlines()
    tags = ("RSS_PEAK", "CUDA_PEAK", "FLAGS")
    tagged = dict(line.split(maxsplit=1) for line in lines if line.startswith(tags))
    median = float(next(line for line in lines if not line.startswith(tags)))
    out = {"median_s": median, "peak_rss_mib": float(tagged["RSS_PEAK"]), "device": device,
           "backend": json.loads(tagged.get("FLAGS", "{}"))}
    if "CUDA_PEAK" in tagged:
        out["cuda_max_allocated_mib"] = float(tagged["CUDA_PEAK"])
    return out


def run_one(variant: str, size: int, batch: int, setting: str, args: argparse.Namespace) -> dict:
    """One subprocess measurement; returns its JSON result."""
    if variant == "reference":
        return run_reference(size, args)
    cmd = [sys.executable, __file__, "--worker", "--variant", variant, "--size", str(size), "--iters", str(args.iters),
           "--warmup", str(args.warmup), "--batch", str(batch), "--device", args.device, "--setting", setting,
           "--ngf", str(args.ngf), "--n-blocks", str(args.n_blocks), "--fuse", args.fuse,
           "--threads", str(args.threads)]
    for item in args.set:
        cmd += ["--set", item]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{variant} {setting} at {size}px batch {batch} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def plan(args: argparse.Namespace) -> list[tuple[int, int, str, str]]:
    """(size, batch, setting, variant) for every measurement of one round."""
    cells = []
    for size in args.sizes:
        for batch in args.batches:
            for setting in args.settings:
                for variant in args.variants:
                    if variant == "reference" and (batch != 1 or setting != "fp32" or not REFERENCE.exists()):
                        continue  # the yardstick only does batch 1, fp32 eager
                    cells.append((size, batch, setting, variant))
    return cells


def report(results: dict, args: argparse.Namespace) -> list[dict]:
    """Print the table of medians and ratios; return its rows."""
    med = {k: statistics.median(r["median_s"] for r in runs) for k, runs in results.items()}
    rows = []
    threads = sorted({r.get("threads") for runs in results.values() for r in runs} - {None})
    print(f"\nTraining step, ngf {args.ngf}, {args.n_blocks} blocks, device {args.device}, fuse_passes {args.fuse}, "
          f"{os.cpu_count()} CPUs, torch threads {threads or 'default'}, {args.rounds} round(s) x {args.iters} timed "
          f"steps (median of medians)")
    header = (f"{'size':>5} {'batch':>5} {'setting':>20} {'variant':>10} {'s/step':>9} {'cpu s':>9} {'img/s':>8} "
              f"{'vs cyclegan':>11} {'vs fp32':>8} {'peak MiB':>9}")
    print(header)
    print("-" * len(header))
    for (size, batch, setting, variant), s in med.items():
        base = med.get((size, batch, setting, "cyclegan"))
        fp32 = med.get((size, batch, "fp32", variant))
        runs = results[(size, batch, setting, variant)]
        peak = max(r.get("cuda_max_allocated_mib") or r.get("peak_rss_mib") or 0 for r in runs)
        row = {"size": size, "batch": batch, "setting": setting, "variant": variant, "s_per_step": s,
               "images_per_s": 2 * batch / s, "vs_cyclegan": s / base if base else None,
               "speedup_vs_fp32": fp32 / s if fp32 else None, "peak_mib": peak, "device": runs[0].get("device"),
               "gpu": runs[0].get("gpu"), "backend": runs[0].get("backend") or {},
               "threads": runs[0].get("threads"), "n_layers_d": runs[0].get("n_layers_d"),
               "cpu_s_per_step": statistics.median(r["cpu_median_s"] for r in runs) if all(
                   "cpu_median_s" in r for r in runs) else None,
               "label": setting_label(setting, runs[0].get("backend") or {})}
        rows.append(row)
        vs_base = f"{row['vs_cyclegan']:.3f}x" if base else "-"
        vs_fp32 = f"{row['speedup_vs_fp32']:.2f}x" if fp32 else "-"
        cpu = f"{row['cpu_s_per_step']:>9.4f}" if row["cpu_s_per_step"] is not None else f"{'-':>9}"
        print(f"{size:>5} {batch:>5} {row['label']:>20} {variant:>10} {s:>9.4f} {cpu} {row['images_per_s']:>8.2f} "
              f"{vs_base:>11} {vs_fp32:>8} {peak:>9.0f}")
    backends = {json.dumps(r["backend"], sort_keys=True) for r in rows if r["backend"]}
    if backends:
        same = "the same for every row" if len(backends) == 1 else "DIFFERENT between rows (see the JSON)"
        print(f"CUDA backend ({same}): {', '.join(sorted(backends))}")
    print()
    for (size, batch, setting, variant), s in med.items():
        if variant == "spagan" and (size, batch, setting, "cyclegan") in med:
            print(f"{size}px batch {batch} {setting}: SPA-GAN / CycleGAN baseline = "
                  f"{s / med[(size, batch, setting, 'cyclegan')]:.3f}x (target <= 1.10)")
        if variant == "cyclegan" and (size, batch, setting, "reference") in med:
            print(f"{size}px batch {batch} {setting}: CycleGAN baseline / yardstick = "
                  f"{s / med[(size, batch, setting, 'reference')]:.3f}x (target <= 1.00)")
        if setting != "fp32" and (size, batch, "fp32", variant) in med and size >= 256:
            print(f"{size}px batch {batch} {variant} {setting}: {med[(size, batch, 'fp32', variant)] / s:.2f}x "
                  f"the images/s of fp32 eager (target >= 2 on a GPU)")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--batches", type=int, nargs="+", default=[1])
    p.add_argument("--settings", nargs="+", default=["fp32"], help="fp32 or +-joined bf16, cl, compile")
    p.add_argument("--variants", nargs="+", default=["spagan", "cyclegan", "reference"],
                   choices=("spagan", "cyclegan", "reference"))
    p.add_argument("--iters", type=int, default=5, help="timed steps per subprocess")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (compile needs 2 or more)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved repetitions of every measurement")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--device", default="auto")
    p.add_argument("--fuse", default="auto", choices=("auto", "on", "off"), help="train.fuse_passes")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads per measurement (0: torch's default, one per core)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra config override for our variants (repeatable)")
    p.add_argument("--json", type=Path, help="also write the results here")
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="spagan", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--setting", default="fp32", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    for setting in args.settings:
        setting_overrides(setting)  # fail on a typo before hours of measuring

    cells, results = plan(args), {}
    for r in range(args.rounds):
        for cell in cells if r % 2 == 0 else cells[::-1]:
            res = run_one(cell[3], *cell[:3], args)
            results.setdefault(cell, []).append(res)
            size, batch, setting, variant = cell
            print(f"  round {r + 1}: {size}px batch {batch} {setting} {variant}: {res['median_s']:.4f} s/step",
                  file=sys.stderr, flush=True)
    rows = report(results, args)
    if args.json:
        payload = {"date": time.strftime("%Y-%m-%d"), "args": vars(args) | {"json": str(args.json)}, "rows": rows,
                   "runs": [{"cell": list(k), "results": v} for k, v in results.items()]}
        args.json.write_text(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
