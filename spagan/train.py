"""SPA-GAN training loop: data, schedule, checkpoints, logging, resume.

`train(cfg, data_dir, out_dir)` writes into out_dir:
  checkpoint.pt     networks, optimisers, schedulers, image pools, RNG, step/epoch, config
  config.yaml       the resolved config of this run
  train_log.jsonl   one JSON line per logged step: losses, learning rate, images/s
  metrics.json      final training metrics (written at the end)
"""

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader

from spagan.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from spagan.config import Config, TrainConfig, config_from_dict, save_config
from spagan.dataset import UnpairedRun, domain_files
from spagan.device import autocast_factory, configure_backends, loader_workers, memory_format, pick_device
from spagan.distributed import (average_gradients, broadcast_parameters, gather_strings, init_from_env, shutdown,
                                weights_digest)
from spagan.errors import SpaganError
from spagan.image_pool import ImagePool
from spagan.imageio import atomic_write_bytes
from spagan.models import Networks, build_networks, compile_networks
from spagan.step import NonFiniteLoss, SpaGanStep

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


def lr_factor(step: int, steps_per_epoch: int, epochs: int, epochs_decay: int) -> float:
    """CycleGAN's 'linear' policy as a pure function of the global step (no off-by-one on
    resume): 1.0 for `epochs` epochs, then linear decay over `epochs_decay` epochs."""
    epoch = step // steps_per_epoch
    return 1.0 - max(0, epoch + 1 - epochs) / float(epochs_decay + 1)


def schedule_length(train_cfg: TrainConfig, n_a: int, n_b: int, world_size: int = 1) -> tuple[int, int]:
    """(steps_per_epoch, total_steps); an epoch is max(|A|, |B|) images as in CycleGAN, shared
    by all processes (each step consumes batch_size images per process)."""
    steps_per_epoch = max(1, max(n_a, n_b) // (train_cfg.batch_size * world_size))
    total = (train_cfg.epochs + train_cfg.epochs_decay) * steps_per_epoch
    if train_cfg.max_steps > 0:
        total = min(total, train_cfg.max_steps)
    return steps_per_epoch, total


def _trained_sections(cfg: Config) -> dict[str, Any]:
    """The config sections a checkpoint must match to be resumed (data/eval may differ)."""
    d = cfg.to_dict()
    train = dict(d["train"])
    # Stopping points and bookkeeping may change between resumes without changing the model.
    for key in ("max_steps", "checkpoint_every", "log_every", "num_workers"):
        train.pop(key)
    return {"model": d["model"], "train": train}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past `step` (written after the checkpoint we resume from)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError):
            continue  # a line cut short by a crash
    atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


def build_trainables(cfg: Config, dev: torch.device) -> tuple[Networks, torch.optim.Adam, torch.optim.Adam,
                                                            torch.memory_format]:
    """(networks, generator optimiser, discriminator optimiser, memory format) on `dev`, with the
    backend, layout and compile settings of cfg.train: what train() and the benchmarks step."""
    t_cfg = cfg.train
    configure_backends(dev)
    fmt = memory_format(t_cfg.channels_last, dev)
    nets = build_networks(cfg.model).to(dev, fmt)
    if t_cfg.compile == "on":
        compile_networks(nets)
    opt_G = torch.optim.Adam(list(nets.G.parameters()) + list(nets.F.parameters()),
                             lr=t_cfg.lr, betas=(t_cfg.beta1, t_cfg.beta2))
    opt_D = torch.optim.Adam(list(nets.D_A.parameters()) + list(nets.D_B.parameters()),
                             lr=t_cfg.lr, betas=(t_cfg.beta1, t_cfg.beta2))
    return nets, opt_G, opt_D, fmt


def train(
    cfg: Config,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    device: str | torch.device = "auto",
    resume: bool | Literal["auto"] = False,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train SPA-GAN (or CycleGAN with model.attention=false, train.lambda_fm=0) on data_dir's
    trainA/ and trainB/, writing checkpoints and logs to out_dir.

    resume: False starts fresh; True continues from out_dir/checkpoint.pt (error if its model/
    train config differs); "auto" continues when a matching checkpoint exists, else starts fresh.
    on_progress(info) is called after every step; should_stop() is polled after every step and
    ends training early (with a checkpoint) when it returns True.
    """
    t_cfg, m_cfg = cfg.train, cfg.model
    if t_cfg.image_size % 4:
        raise SpaganError(f"train.image_size={t_cfg.image_size} must be a multiple of 4")
    files_a, files_b = domain_files(data_dir, "train")
    dev = pick_device(device)
    dist_info = init_from_env(dev.type)
    if dist_info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", dist_info.local_rank)
        torch.cuda.set_device(dev)
    is_main = dist_info.is_main
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out_dir / CHECKPOINT_NAME, out_dir / LOG_NAME

    torch.manual_seed(t_cfg.seed)
    nets, opt_G, opt_D, fmt = build_trainables(cfg, dev)
    modules = list(nets.modules().values())
    world, batch = dist_info.world_size, t_cfg.batch_size
    if max(len(files_a), len(files_b)) < batch * world:
        raise SpaganError(f"{data_dir}: fewer images than train.batch_size x processes = {batch * world}")
    steps_per_epoch, total = schedule_length(t_cfg, len(files_a), len(files_b), world)

    def factor(step: int) -> float:
        return lr_factor(step, steps_per_epoch, t_cfg.epochs, t_cfg.epochs_decay)

    sched_G = torch.optim.lr_scheduler.LambdaLR(opt_G, factor)
    sched_D = torch.optim.lr_scheduler.LambdaLR(opt_D, factor)
    pool_seed = t_cfg.seed + 1000 * dist_info.rank  # each process keeps its own history
    pool_A, pool_B = ImagePool(t_cfg.pool_size, pool_seed + 1), ImagePool(t_cfg.pool_size, pool_seed + 2)

    step = 0
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=dev)
        stored = config_from_dict(state["config"])
        if _trained_sections(stored) != _trained_sections(cfg):
            diff = _config_diff(_trained_sections(stored), _trained_sections(cfg))
            if resume != "auto":
                raise SpaganError(f"{ckpt_path}: cannot resume, the config differs: {diff}")
            log.info("checkpoint %s was trained with another config (%s): starting fresh", ckpt_path, diff)
        else:
            for name, module in nets.modules().items():
                module.load_state_dict(state["networks"][name])
            opt_G.load_state_dict(state["optim"]["G"])
            opt_D.load_state_dict(state["optim"]["D"])
            sched_G.load_state_dict(state["sched"]["G"])
            sched_D.load_state_dict(state["sched"]["D"])
            pool_A.load_state_dict(state["pools"]["A"], dev)
            pool_B.load_state_dict(state["pools"]["B"], dev)
            torch.set_rng_state(state["rng"]["torch"])
            step = int(state["step"])
            log.info("resuming from %s at step %d of %d", ckpt_path, step, total)
    elif resume:
        log.info("no checkpoint in %s: starting fresh", out_dir)
    resumed_from = step
    if dist_info.enabled:
        broadcast_parameters(modules)  # identical start on every rank
    if is_main:
        if step:
            _truncate_log(log_path, step)
        else:
            atomic_write_bytes(log_path, b"")
        save_config(cfg, out_dir / "config.yaml")

    run_step = SpaGanStep(nets, m_cfg, t_cfg, opt_G, opt_D, pool_A, pool_B, autocast_factory(t_cfg.amp, dev),
                          grad_sync=average_gradients if dist_info.enabled else None)

    def checkpoint_state() -> dict[str, Any]:
        return {
            "format": 1,
            "networks": {k: m.state_dict() for k, m in nets.modules().items()},
            "optim": {"G": opt_G.state_dict(), "D": opt_D.state_dict()},
            "sched": {"G": sched_G.state_dict(), "D": sched_D.state_dict()},
            "pools": {"A": pool_A.state_dict(), "B": pool_B.state_dict()},
            "rng": {"torch": torch.get_rng_state()},
            "step": step,
            "epoch": step // steps_per_epoch,
            "total_steps": total,
            "config": cfg.to_dict(),
            "device": str(dev),
        }

    started, losses = time.perf_counter(), {}
    log.info("training on %s: %d+%d images, %d steps (%d per epoch), device %s, %d process(es)",
             data_dir, len(files_a), len(files_b), total, steps_per_epoch, dev, world)
    dataset = UnpairedRun(files_a, files_b, seed=t_cfg.seed, load_size=t_cfg.load_size, crop_size=t_cfg.image_size,
                          steps_per_epoch=steps_per_epoch, start_step=step, end_step=total, batch=batch, world=world,
                          rank=dist_info.rank)
    workers = loader_workers(t_cfg.num_workers, dev) if len(dataset) else 0  # nothing left: no workers
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, drop_last=True, num_workers=workers,
                        pin_memory=dev.type == "cuda", prefetch_factor=4 if workers else None)
    with open(log_path if is_main else os.devnull, "a", encoding="utf-8") as log_file:
        for items in loader:
            tick = time.perf_counter()
            epoch = step // steps_per_epoch
            real_a = items["A"].to(dev, non_blocking=True, memory_format=fmt)
            real_b = items["B"].to(dev, non_blocking=True, memory_format=fmt)
            try:
                losses = run_step(real_a, real_b)
            except NonFiniteLoss as exc:
                raise NonFiniteLoss(f"step {step + 1}: {exc}; training stopped, the last good "
                                    f"checkpoint is kept at {ckpt_path}") from None
            lr = sched_G.get_last_lr()[0]
            sched_G.step()
            sched_D.step()
            step += 1
            info = {"step": step, "epoch": epoch, "total_steps": total, "lr": lr, **losses,
                    "images_per_s": 2 * t_cfg.batch_size / max(time.perf_counter() - tick, 1e-9)}
            if step % t_cfg.log_every == 0 or step == total:
                log_file.write(json.dumps(info) + "\n")
                log_file.flush()
            if on_progress is not None:
                on_progress(info)
            stop_now = step >= total or _agree(should_stop is not None and should_stop(), dist_info)
            if is_main and (step % t_cfg.checkpoint_every == 0 or stop_now):
                save_checkpoint(checkpoint_state(), ckpt_path)
            if stop_now:
                break
    if is_main and not ckpt_path.exists():  # resumed at the end already, or total == 0
        save_checkpoint(checkpoint_state(), ckpt_path)
    digests = gather_strings(weights_digest(modules), dist_info)  # equal when ranks stayed in sync
    shutdown(dist_info)
    seconds = time.perf_counter() - started
    if not losses and (out_dir / METRICS_NAME).exists():  # nothing left to train: keep the record
        metrics_prev = json.loads((out_dir / METRICS_NAME).read_text(encoding="utf-8"))
        losses = {k[5:]: v for k, v in metrics_prev.items() if k.startswith("loss_")}
    result = TrainResult(steps=step, total_steps=total, finished=step >= total, resumed_from=resumed_from,
                         checkpoint=ckpt_path, device=str(dev), seconds=seconds, losses=losses)
    metrics = {"steps": step, "total_steps": total, "finished": result.finished, "device": str(dev),
               "processes": world, "weights_digest_per_rank": digests,
               "seconds_this_run": round(seconds, 3), **{f"loss_{k}": v for k, v in losses.items()}}
    if is_main:
        atomic_write_bytes(out_dir / METRICS_NAME, json.dumps(metrics, indent=2).encode())
    return result


def _agree(flag: bool, info) -> bool:
    """True on every rank when any rank says True (a stop request must stop all processes)."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)])
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def _config_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = []
    for section in new:
        for key, value in new[section].items():
            if old.get(section, {}).get(key) != value:
                parts.append(f"{section}.{key}: {old.get(section, {}).get(key)!r} -> {value!r}")
    return "; ".join(parts) or "unknown"


def result_dict(result: TrainResult) -> dict[str, Any]:
    """JSON-friendly form of a TrainResult."""
    d = asdict(result)
    d["checkpoint"] = str(result.checkpoint)
    d["losses"] = {k: (v if math.isfinite(v) else None) for k, v in result.losses.items()}
    return d
