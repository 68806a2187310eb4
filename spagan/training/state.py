"""The state of one training run: what train() builds, checkpoints and restores.

A run is the networks, their Adam optimisers and linear-decay schedulers, the two image pools,
the global step and the schedule's length. `new_run` builds it on a device, `checkpoint_state`
turns it into the dict `save_checkpoint` writes, and `resume_run` brings a run back from a
checkpoint file.

Checkpoints are read onto the CPU, whatever the training device, then moved: module and
optimiser tensors go to the parameters' device (torch's Adam keeps its `step` counters on the
CPU unless capturable or fused, so its bias corrections never wait for the GPU), while the RNG
states and the pools' generators must stay CPU ByteTensors (`torch.set_rng_state` refuses
anything else; a map_location of the GPU made every CUDA resume crash).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from spagan.config import Config, TrainConfig, config_from_stored
from spagan.core.device import configure_backends, memory_format
from spagan.core.errors import SpaganError
from spagan.models import Networks, build_networks, compile_networks
from spagan.models.checkpoint import load_checkpoint
from spagan.training.image_pool import ImagePool

log = logging.getLogger(__name__)

# 2: pools and RNG per process ("ranks"); 1 (still read): rank 0's only ("pools", "rng").
CHECKPOINT_FORMAT = 2


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


@dataclass
class RunState:
    """Everything a training run updates, on its device (pool generators on the CPU)."""

    cfg: Config
    device: torch.device
    nets: Networks
    opt_G: torch.optim.Adam
    opt_D: torch.optim.Adam
    sched_G: torch.optim.lr_scheduler.LambdaLR
    sched_D: torch.optim.lr_scheduler.LambdaLR
    pool_A: ImagePool
    pool_B: ImagePool
    fmt: torch.memory_format  # layout of the networks and of every input batch
    steps_per_epoch: int
    total: int               # steps the schedule asks for
    step: int = 0            # global step reached
    rank: int = 0            # this process, of `world` (torchrun)
    world: int = 1

    @property
    def modules(self) -> list[torch.nn.Module]:
        return list(self.nets.by_name().values())


def new_run(cfg: Config, dev: torch.device, n_a: int, n_b: int, rank: int = 0, world: int = 1) -> RunState:
    """A fresh run at step 0 for `n_a` + `n_b` training images shared by `world` processes."""
    t_cfg = cfg.train
    torch.manual_seed(t_cfg.seed)
    nets, opt_G, opt_D, fmt = build_trainables(cfg, dev)
    steps_per_epoch, total = schedule_length(t_cfg, n_a, n_b, world)

    def factor(step: int) -> float:
        return lr_factor(step, steps_per_epoch, t_cfg.epochs, t_cfg.epochs_decay)

    pool_seed = t_cfg.seed + 1000 * rank  # each process keeps its own history
    return RunState(cfg=cfg, device=dev, nets=nets, opt_G=opt_G, opt_D=opt_D,
                    sched_G=torch.optim.lr_scheduler.LambdaLR(opt_G, factor),
                    sched_D=torch.optim.lr_scheduler.LambdaLR(opt_D, factor),
                    pool_A=ImagePool(t_cfg.pool_size, pool_seed + 1), pool_B=ImagePool(t_cfg.pool_size, pool_seed + 2),
                    fmt=fmt, steps_per_epoch=steps_per_epoch, total=total, rank=rank, world=world)


def rank_state(run: RunState) -> dict[str, Any]:
    """What differs between processes: this rank's image pools and RNG state (CPU tensors)."""
    return {"pools": {"A": run.pool_A.state_dict(), "B": run.pool_B.state_dict()},
            "rng": {"torch": torch.get_rng_state()}}


def checkpoint_state(run: RunState, ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The dict a checkpoint file holds. `ranks`: every process's rank_state() in rank order
    (default: this process's only), so a resumed multi-process run is the run it continues."""
    return {
        "format": CHECKPOINT_FORMAT,
        "networks": run.nets.state_dicts(),
        "optim": {"G": run.opt_G.state_dict(), "D": run.opt_D.state_dict()},
        "sched": {"G": run.sched_G.state_dict(), "D": run.sched_D.state_dict()},
        "ranks": ranks if ranks is not None else [rank_state(run)],
        "step": run.step,
        "epoch": run.step // run.steps_per_epoch,
        "total_steps": run.total,
        "config": run.cfg.to_dict(),
        "device": str(run.device),
    }


def restore(run: RunState, state: dict[str, Any]) -> None:
    """Load a checkpoint dict read onto the CPU into `run` (tensors move to the run's device)."""
    for name, module in run.nets.by_name().items():
        module.load_state_dict(state["networks"][name])  # copies into the parameters' device
    # Adam moves exp_avg/exp_avg_sq to each parameter's device and dtype and leaves `step` as
    # given: a CPU tensor, as torch keeps it for non-capturable Adam.
    run.opt_G.load_state_dict(state["optim"]["G"])
    run.opt_D.load_state_dict(state["optim"]["D"])
    run.sched_G.load_state_dict(state["sched"]["G"])
    run.sched_D.load_state_dict(state["sched"]["D"])
    ranks = state.get("ranks") or [{"pools": state["pools"], "rng": state["rng"]}]  # format 1: rank 0's
    if len(ranks) != run.world:
        log.warning("checkpoint holds the pools and RNG of %d process(es), this run has %d: each process "
                    "takes process %d's (modulo), so the resumed run differs from an uninterrupted one",
                    len(ranks), run.world, run.rank % len(ranks))
    own = ranks[run.rank % len(ranks)]
    run.pool_A.load_state_dict(own["pools"]["A"], run.device)
    run.pool_B.load_state_dict(own["pools"]["B"], run.device)
    torch.set_rng_state(_byte_state(own["rng"]["torch"]))
    run.step = int(state["step"])


def _byte_state(t: torch.Tensor) -> torch.Tensor:
    """An RNG state as the CPU ByteTensor torch requires, wherever and however it was stored."""
    return t.to("cpu", torch.uint8)


def resume_run(run: RunState, ckpt_path: Path, resume: bool | Literal["auto"]) -> int:
    """Continue `run` from `ckpt_path` when asked and its model/train config matches; returns
    the step resumed from (0: fresh). resume=True refuses another config, "auto" starts fresh."""
    if not resume:
        return 0
    if not ckpt_path.exists():
        log.info("no checkpoint in %s: starting fresh", ckpt_path.parent)
        return 0
    state = load_checkpoint(ckpt_path, map_location="cpu")
    stored, wanted = trained_sections(config_from_stored(state["config"])), trained_sections(run.cfg)
    if stored != wanted:
        diff = config_diff(stored, wanted)
        if resume != "auto":
            raise SpaganError(f"{ckpt_path}: cannot resume, the config differs: {diff}")
        log.info("checkpoint %s was trained with another config (%s): starting fresh", ckpt_path, diff)
        return 0
    restore(run, state)
    log.info("resuming from %s at step %d of %d", ckpt_path, run.step, run.total)
    return run.step


# Keys of the train section a run may change between resumes without changing the model: where
# it stops, the loader's worker count (the data is the same for any count: dataset.py), and
# evaluation during training (which checkpoint is published is decided at publish time). The
# whole watch section (logging, previews, TensorBoard, checkpoint cadence) is never compared.
RESUMABLE_TRAIN_KEYS = ("max_steps", "num_workers", "eval_every", "eval_images", "eval_split", "select_by", "publish")


def trained_sections(cfg: Config) -> dict[str, Any]:
    """The config sections a checkpoint must match to be resumed (data/watch/eval may differ)."""
    d = cfg.to_dict()
    train = {k: v for k, v in d["train"].items() if k not in RESUMABLE_TRAIN_KEYS}
    # ... except where they change the images trained on: a slice held out for evaluation during
    # training (spagan.training.holdout) is not trained on, so its size is part of the training data.
    t = cfg.train
    train["held_out_images"] = t.eval_images if t.eval_every and t.eval_split == "holdout" else 0
    return {"model": d["model"], "train": train}


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """'section.key: old -> new; ...' for every key of `new` whose value differs in `old`."""
    parts = []
    for section in new:
        for key, value in new[section].items():
            if old.get(section, {}).get(key) != value:
                parts.append(f"{section}.{key}: {old.get(section, {}).get(key)!r} -> {value!r}")
    return "; ".join(parts) or "unknown"
