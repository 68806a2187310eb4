"""What logging and checkpointing cost per event, and the cadence that keeps them under a share of a step.

Times spagan's own writers on the state a paper-size run holds (defaults: ngf 64, 9 blocks,
ndf 64, 256 px, image pools of 50 full):

- one checkpoint: spagan.training.state.checkpoint_state + spagan.models.checkpoint.save_checkpoint
  (torch.save through an atomic write) of the four networks, both Adam optimisers with their
  moments, the schedulers and both pools, to --dir (a local disk; the run folder in practice);
- one log event: the JSON line train() appends (write + flush) and the TensorBoard scalars of
  spagan.training.board.Board.add_step. Both take python floats: the step already fetched its
  losses in its one device-to-host transfer (spagan.training.distributed.step_outcome), which
  happens every step whatever watch.log_every is, so a log line adds no GPU sync.

Then, for a step time `--step-s` (seconds per training step at that size; on a GPU take it from
BENCHMARKS.md or a published figure), prints the smallest watch.checkpoint_every and
watch.log_every whose amortised cost stays under --budget (default 2%) of a step:

    python benchmarks/checkpoint_cost.py --step-s 0.25 --json benchmarks/results/checkpoint_cost.json
"""

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def paper_run(size: int, ngf: int, n_blocks: int, ndf: int, pool: int):
    """A RunState as a paper-size run holds it after `pool` steps: Adam moments for every
    parameter and both pools full (random images: the bytes, not the values, set the cost)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from spagan.config import load_config
    from spagan.training.state import new_run

    cfg = load_config(None, [f"train.image_size={size}", f"model.ngf={ngf}", f"model.n_blocks={n_blocks}",
                             f"model.ndf={ndf}", f"train.pool_size={pool}"])
    run = new_run(cfg, torch.device("cpu"), 1000, 1000)
    for opt in (run.opt_G, run.opt_D):  # one Adam step on zero gradients creates the full state
        for group in opt.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        opt.step()
        opt.zero_grad(set_to_none=True)
    for p in (run.pool_A, run.pool_B):
        for _ in range(pool):
            p.query(torch.rand(1, 3, size, size) * 2 - 1)
    return run


def time_checkpoints(run, folder: Path, repeats: int) -> tuple[list[float], int]:
    """Seconds of each of `repeats` checkpoint writes (state dict built each time, as train() does)
    and the file's size in bytes."""
    from spagan.models.checkpoint import save_checkpoint
    from spagan.training.state import checkpoint_state

    path = folder / "checkpoint.pt"
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        save_checkpoint(checkpoint_state(run), path)
        times.append(time.perf_counter() - t)
    return times, path.stat().st_size


def time_log_events(folder: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of one JSON log line (write + flush) and of one Board.add_step, `repeats` times each."""
    from spagan.training.board import Board
    from spagan.training.step import LOSS_NAMES

    info = {"step": 0, "epoch": 0, "total_steps": 10**6, "lr": 2e-4, **dict.fromkeys(LOSS_NAMES, 1.2345),
            "images_per_s": 3.21}
    lines, boards = [], []
    board = Board(folder / "tensorboard")
    try:
        with open(folder / "train_log.jsonl", "a", encoding="utf-8") as log_file:
            for i in range(repeats):
                info = {**info, "step": i + 1}
                t = time.perf_counter()
                log_file.write(json.dumps(info) + "\n")
                log_file.flush()
                lines.append(time.perf_counter() - t)
                t = time.perf_counter()
                board.add_step(info)
                boards.append(time.perf_counter() - t)
    finally:
        board.close()
    return lines, boards


def cadence(event_s: float, step_s: float, budget: float) -> int:
    """Smallest every-N-steps whose amortised cost event_s / N is at most budget x step_s."""
    return max(1, math.ceil(event_s / (budget * step_s)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--pool", type=int, default=50, help="images per pool (train.pool_size), filled")
    p.add_argument("--repeats", type=int, default=5, help="checkpoint writes timed")
    p.add_argument("--log-repeats", type=int, default=2000, help="log events timed")
    p.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp folder)")
    p.add_argument("--step-s", type=float, nargs="+", default=[],
                   help="seconds per training step to derive the cadences for (e.g. a GPU step at 256 px)")
    p.add_argument("--budget", type=float, default=0.02, help="share of a step logging/checkpointing may cost")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    import torch

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        run = paper_run(args.size, args.ngf, args.n_blocks, args.ndf, args.pool)
        ckpt_times, ckpt_bytes = time_checkpoints(run, folder, args.repeats)
        lines, boards = time_log_events(folder, args.log_repeats)
    ckpt_s, line_s, board_s = statistics.median(ckpt_times), statistics.median(lines), statistics.median(boards)
    # Amortised cost is a mean: the rare slow write (a full page cache, TensorBoard's flush)
    # counts as much as it costs. The cadences below come from the means.
    ckpt_mean, log_mean = statistics.fmean(ckpt_times), statistics.fmean(lines) + statistics.fmean(boards)
    print(f"ngf {args.ngf}, {args.n_blocks} blocks, ndf {args.ndf}, {args.size} px, pools of {args.pool}, "
          "torch threads "
          f"{torch.get_num_threads()}")
    print(f"checkpoint: {ckpt_bytes / 1e6:.0f} MB, {ckpt_s:.2f} s median of {args.repeats} "
          f"({', '.join(f'{t:.2f}' for t in ckpt_times)}), {ckpt_bytes / 1e6 / ckpt_s:.0f} MB/s")
    print(f"  mean {ckpt_mean:.2f} s")
    print(f"log event: JSON line {line_s * 1e6:.0f} us + TensorBoard scalars {board_s * 1e6:.0f} us "
          f"(medians of {args.log_repeats}); mean of both together {log_mean * 1e6:.0f} us; p99 "
          f"{statistics.quantiles(lines, n=100)[-1] * 1e6:.0f} / "
          f"{statistics.quantiles(boards, n=100)[-1] * 1e6:.0f} us")
    derived = []
    for step_s in args.step_s:
        row = {"step_s": step_s, "budget": args.budget, "checkpoint_every": cadence(ckpt_mean, step_s, args.budget),
               "log_every": cadence(log_mean, step_s, args.budget)}
        derived.append(row)
        print(f"step {step_s:.3f} s, budget {args.budget:.0%}: watch.checkpoint_every >= {row['checkpoint_every']}, "
              f"watch.log_every >= {row['log_every']}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d"), "args": {k: str(v) if isinstance(v, Path) else v
                                                        for k, v in vars(args).items()},
            "threads": torch.get_num_threads(), "checkpoint_bytes": ckpt_bytes, "checkpoint_s": ckpt_times,
            "checkpoint_s_median": ckpt_s, "checkpoint_s_mean": ckpt_mean, "log_line_s_median": line_s,
            "board_s_median": board_s, "log_event_s_mean": log_mean,
            "derived": derived}, indent=2))


if __name__ == "__main__":
    main()
