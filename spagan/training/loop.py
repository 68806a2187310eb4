"""SPA-GAN training loop: data, schedule, checkpoints, logging, resume.

`train(cfg, data_dir, out_dir)` writes into out_dir:
  checkpoint.pt     networks, optimisers, schedulers, every process's image pools and RNG, step/epoch, config
  config.yaml       the resolved config of this run
  train_log.jsonl   one JSON line per logged step: losses, learning rate, images/s
  metrics.json      final training metrics (written at the end)
  eval_curve.csv, best.pt, best.json   with an evaluator and train.eval_every > 0 (spagan/training/selection.py)
  previews/         preview grids step_NNNNNN.png (watch.preview_every; spagan/training/previews.py)
  tensorboard/      TensorBoard events (watch.tensorboard; spagan/training/board.py)

The run's state (networks, optimisers, pools, schedule) and its checkpoint format live in
spagan/training/state.py; this file is the loop around it.
"""

import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader

from spagan.config import Config, save_config
from spagan.core.device import autocast_factory, loader_workers, pick_device
from spagan.core.errors import SpaganError
from spagan.core.imageio import atomic_write_bytes
from spagan.models.checkpoint import CHECKPOINT_NAME, save_checkpoint
from spagan.training.dataset import UnpairedRun
from spagan.training.holdout import EvalSlice, run_slice
from spagan.training.distributed import (
    DistInfo,
    average_gradients,
    broadcast_parameters,
    gather_objects,
    gather_strings,
    init_from_env,
    shutdown,
    step_outcome,
    weights_digest,
)
from spagan.training.state import (
    RunState,
    build_trainables,
    checkpoint_state,
    lr_factor,
    new_run,
    rank_state,
    resume_run,
    schedule_length,
)
from spagan.training.selection import EvalDuringTraining, Evaluator
from spagan.training.step import LOSS_NAMES, NonFiniteLoss, SpaGanStep, non_finite
from spagan.training.watch import RunWatch

__all__ = ["TrainResult", "build_trainables", "lr_factor", "result_dict", "schedule_length", "train"]

log = logging.getLogger(__name__)

LOG_NAME = "train_log.jsonl"
METRICS_NAME = "metrics.json"


@dataclass
class TrainResult:
    """What a call to train() did."""

    steps: int               # global step reached
    total_steps: int         # steps the schedule asks for
    finished: bool           # True when total_steps were reached
    resumed_from: int        # step the run resumed from (0 for a fresh run)
    checkpoint: Path
    device: str
    seconds: float
    losses: dict[str, float]
    best: dict[str, Any] | None = None  # best.json's record (evaluation during training), if any


def train(
    cfg: Config,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    device: str | torch.device = "auto",
    resume: bool | Literal["auto"] = False,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluator: Evaluator | None = None,
) -> TrainResult:
    """Train SPA-GAN (or CycleGAN with model.attention=false, train.lambda_fm=0) on data_dir's
    trainA/ and trainB/, writing checkpoints and logs to out_dir.

    resume: False starts fresh; True continues from out_dir/checkpoint.pt (error if its model/
    train config differs); "auto" continues when a matching checkpoint exists, else starts fresh.
    should_stop() is polled at every step and, when it returns True, ends training after that
    step (with a checkpoint); on_progress(info) is called after every step. evaluator (with
    train.eval_every > 0) scores the networks every eval_every epochs and at the end, keeping
    eval_curve.csv and the best checkpoint (spagan.training.selection); it never changes the weights.
    """
    sliced = _training_files(cfg, data_dir)
    files_a, files_b = sliced.train_a, sliced.train_b
    dev, dist_info = _join_processes(pick_device(device))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out_dir / CHECKPOINT_NAME, out_dir / LOG_NAME

    run = new_run(cfg, dev, len(files_a), len(files_b), dist_info.rank, dist_info.world_size)
    resumed_from = resume_run(run, ckpt_path, resume)
    if dist_info.enabled:
        broadcast_parameters(run.modules)  # identical start on every rank
    if dist_info.is_main:
        _start_log(log_path, run.step)
        save_config(cfg, out_dir / "config.yaml")
    evals = None
    # Every process decides when evaluations are due (their checkpoints are collectives); only the
    # main one is handed the evaluator.
    if cfg.train.eval_every and (evaluator is not None or not dist_info.is_main):
        evals = EvalDuringTraining(evaluator, cfg, out_dir, run.steps_per_epoch, run.total, is_main=dist_info.is_main,
                                   scored_on=sliced.record(data_dir))
        evals.resume(run.step)

    started = time.perf_counter()
    log.info("training on %s: %d+%d images, %d steps (%d per epoch), device %s, %d process(es)",
             data_dir, len(files_a), len(files_b), run.total, run.steps_per_epoch, dev, dist_info.world_size)
    loader = _loader(run, files_a, files_b, dist_info)
    watch = RunWatch.start(run, data_dir, out_dir, resumed_from, dist_info.is_main)
    try:
        if evals is not None and evals.pending(run.step):  # stopped while evaluating: that evaluation first
            _evaluate(evals, run, watch)
        losses = _run_steps(run, loader, ckpt_path, log_path, dist_info, on_progress, should_stop, evals, watch)
    finally:
        watch.close()  # flushes TensorBoard, also after an exception

    if run.step == 0:  # no step to train (total == 0): still leave a checkpoint
        _save(run, ckpt_path, dist_info)
    digests = gather_strings(weights_digest(run.modules), dist_info)  # equal when ranks stayed in sync
    shutdown(dist_info)
    return _finish(run, out_dir, losses, resumed_from, digests, dist_info, time.perf_counter() - started,
                   None if evals is None else evals.best, sliced.record(data_dir) if sliced.split else None)


def _training_files(cfg: Config, data_dir: str | Path) -> EvalSlice:
    """trainA/ and trainB/ image files the run trains on (without the slice held out for evaluation
    during training: spagan.training.holdout), after the checks that need no device."""
    if cfg.train.image_size % 4:
        raise SpaganError(f"train.image_size={cfg.train.image_size} must be a multiple of 4")
    sliced = run_slice(cfg.train, data_dir)
    files_a, files_b = sliced.train_a, sliced.train_b
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if max(len(files_a), len(files_b)) < cfg.train.batch_size * world:
        raise SpaganError(f"{data_dir}: fewer images than train.batch_size x processes = "
                          f"{cfg.train.batch_size * world}")
    return sliced


def _join_processes(dev: torch.device) -> tuple[torch.device, DistInfo]:
    """Join torchrun's process group, if any; each process then trains on its own GPU."""
    dist_info = init_from_env(dev.type)
    if dist_info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", dist_info.local_rank)
        torch.cuda.set_device(dev)
    return dev, dist_info


def _start_log(log_path: Path, step: int) -> None:
    """A fresh run starts an empty log; a resumed one drops lines past its checkpoint."""
    if not step:
        atomic_write_bytes(log_path, b"")
    elif log_path.exists():
        keep = []
        for line in log_path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError):
                continue  # a line cut short by a crash
        atomic_write_bytes(log_path, ("\n".join(keep) + "\n" if keep else "").encode())


def _loader(run: RunState, files_a: list[Path], files_b: list[Path], dist_info: DistInfo) -> DataLoader:
    """One loader for the rest of the run: this process's share of every remaining step."""
    t_cfg, dev = run.cfg.train, run.device
    dataset = UnpairedRun(files_a, files_b, seed=t_cfg.seed, load_size=t_cfg.load_size, crop_size=t_cfg.image_size,
                          steps_per_epoch=run.steps_per_epoch, start_step=run.step, end_step=run.total,
                          batch=t_cfg.batch_size, world=dist_info.world_size, rank=dist_info.rank)
    workers = loader_workers(t_cfg.num_workers, dev) if len(dataset) else 0  # nothing left: no workers
    return DataLoader(dataset, batch_size=t_cfg.batch_size, shuffle=False, drop_last=True, num_workers=workers,
                      pin_memory=dev.type == "cuda", prefetch_factor=4 if workers else None,
                      worker_init_fn=_ignore_stop_signals if workers else None)


def _ignore_stop_signals(_worker_id: int) -> None:
    """Loader workers ignore SIGINT and SIGTERM: a signal sent to the whole process group (Ctrl-C,
    a cancelled Dagster run) is the training process's to handle, which stops after the step in
    progress and checkpoints; a worker dying of it first would fail that step instead. Workers
    still end with the training process (torch's watchdog) or on SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _run_steps(run: RunState, loader: DataLoader, ckpt_path: Path, log_path: Path, dist_info: DistInfo,
               on_progress: Callable[[dict[str, Any]], None] | None,
               should_stop: Callable[[], bool] | None, evals: EvalDuringTraining | None,
               watch: RunWatch) -> dict[str, float]:
    """Train over `loader`, logging and checkpointing; returns the last step's losses."""
    t_cfg, dev = run.cfg.train, run.device
    run_step = SpaGanStep(run.nets, run.cfg.model, t_cfg, run.opt_G, run.opt_D, run.pool_A, run.pool_B,
                          autocast_factory(t_cfg.amp, dev),
                          grad_sync=average_gradients if dist_info.enabled else None)
    losses: dict[str, float] = {}
    with open(log_path if dist_info.is_main else os.devnull, "a", encoding="utf-8") as log_file:
        for items in loader:
            tick = time.perf_counter()
            epoch = run.step // run.steps_per_epoch
            real_a = items["A"].to(dev, non_blocking=True, memory_format=run.fmt)
            real_b = items["B"].to(dev, non_blocking=True, memory_format=run.fmt)
            # One transfer per step: the losses, and (several processes) the agreed stop and
            # non-finite flags. No checkpoint is ever written after a non-finite step.
            values, stop_asked, diverged = step_outcome(run_step.losses(real_a, real_b),
                                                        should_stop is not None and should_stop(), dist_info)
            losses = dict(zip(LOSS_NAMES, values))
            if diverged:
                why = non_finite(losses) or "a loss became non-finite in another process"
                raise NonFiniteLoss(f"step {run.step + 1}: {why}; training stopped, the last good "
                                    f"checkpoint is kept at {ckpt_path}")
            lr = run.sched_G.get_last_lr()[0]
            run.sched_G.step()
            run.sched_D.step()
            run.step += 1
            info = {"step": run.step, "epoch": epoch, "total_steps": run.total, "lr": lr, **losses,
                    "images_per_s": 2 * t_cfg.batch_size / max(time.perf_counter() - tick, 1e-9)}
            if run.step % run.cfg.watch.log_every == 0 or run.step == run.total:
                log_file.write(json.dumps(info) + "\n")
                log_file.flush()
            if on_progress is not None:
                on_progress(info)
            stop_now = run.step >= run.total or stop_asked
            # An evaluation follows its step's checkpoint (see selection.py); a stop asked for
            # skips it, and the resumed run evaluates that step first.
            evaluate = evals is not None and evals.due(run.step) and not stop_asked
            if run.step % run.cfg.watch.checkpoint_every == 0 or stop_now or evaluate:
                _save(run, ckpt_path, dist_info)
            if evaluate:
                _evaluate(evals, run, watch)
            watch.step(info, last=stop_now)
            if stop_now:
                break
    return losses


def _evaluate(evals: EvalDuringTraining, run: RunState, watch: RunWatch) -> None:
    """Evaluate at the current step; the scores also go to TensorBoard (eval/<measure>)."""
    scores = evals.run(run.nets, run.step, run.device)
    if scores:
        watch.add_scalars_at(run.step, {f"eval/{k}": v for k, v in scores.items() if v is not None})


def _save(run: RunState, ckpt_path: Path, dist_info: DistInfo) -> None:
    """Checkpoint with every process's pools and RNG (a collective: every rank calls it)."""
    ranks = gather_objects(rank_state(run), dist_info)
    if dist_info.is_main:
        save_checkpoint(checkpoint_state(run, ranks), ckpt_path)


def _finish(run: RunState, out_dir: Path, losses: dict[str, float], resumed_from: int, digests: list[str],
            dist_info: DistInfo, seconds: float, best: dict[str, Any] | None = None,
            eval_slice: dict[str, Any] | None = None) -> TrainResult:
    """Write metrics.json (main process) and return the result. `eval_slice`: the images evaluation
    during training scored (and held out of training, if so), as spagan.training.holdout records them."""
    if not losses and (out_dir / METRICS_NAME).exists():  # nothing left to train: keep the record
        metrics_prev = json.loads((out_dir / METRICS_NAME).read_text(encoding="utf-8"))
        losses = {k[5:]: v for k, v in metrics_prev.items() if k.startswith("loss_")}
    result = TrainResult(steps=run.step, total_steps=run.total, finished=run.step >= run.total,
                         resumed_from=resumed_from, checkpoint=out_dir / CHECKPOINT_NAME, device=str(run.device),
                         seconds=seconds, losses=losses, best=best)
    metrics = {"steps": run.step, "total_steps": run.total, "finished": result.finished, "device": str(run.device),
               "processes": dist_info.world_size, "weights_digest_per_rank": digests,
               "seconds_this_run": round(seconds, 3), **{f"loss_{k}": v for k, v in losses.items()}}
    if best is not None:
        metrics["best"] = best
    if eval_slice is not None:
        metrics["eval_slice"] = eval_slice
    if dist_info.is_main:
        atomic_write_bytes(out_dir / METRICS_NAME, json.dumps(metrics, indent=2).encode())
    return result


def result_dict(result: TrainResult) -> dict[str, Any]:
    """JSON-friendly form of a TrainResult."""
    d = asdict(result)
    d["checkpoint"] = str(result.checkpoint)
    d["losses"] = {k: (v if math.isfinite(v) else None) for k, v in result.losses.items()}
    return d
