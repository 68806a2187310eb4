"""Would this training run start? Everything `spagan train` needs, checked before any work.

`spagan train --dry-run` prints the plan and exits 0 only when a real run would start; a real
run makes the same check first, so the answer cannot drift from what training does. Read-only:
nothing here writes, builds real networks or joins a process group.
"""

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from spagan.config import Config
from spagan.config.geometry import auto_n_layers_d, patch_geometry
from spagan.config.rules import SELECTABLE
from spagan.core.device import autocast_factory, loader_workers, memory_format, pick_device
from spagan.core.errors import SpaganError
from spagan.core.imageio import image_size, list_images
from spagan.models import build_networks
from spagan.models.checkpoint import CHECKPOINT_NAME
from spagan.training.holdout import run_slice
from spagan.training.loop import schedule_length

log = logging.getLogger(__name__)

BYTES_PER_VALUE = 4  # float32 weights, Adam moments and pooled images
ADAM_VALUES_PER_PARAM = 2  # exp_avg and exp_avg_sq
RECORD_BYTES = 384  # torch.save's zip entry per tensor (header, 64-byte alignment, pickle entry): measured


@dataclass(frozen=True)
class TrainPlan:
    """What a training run will do, as far as can be known before it starts."""

    data_dir: Path
    counts: dict[str, int]  # images per folder: trainA, trainB trained on (held out ones, testA, testB when present)
    smallest: tuple[Path, int, int]  # the training image with the shortest side: path, width, height
    image_size: int
    load_size: int
    batch_size: int
    processes: int
    steps_per_epoch: int
    total_steps: int
    epochs: tuple[int, int]  # (at the initial rate, of linear decay)
    max_steps: int
    device: str
    precision: str  # e.g. "bf16 autocast, channels_last"
    loader_workers: int
    parameters: dict[str, int]  # per network
    checkpoint: Path
    checkpoint_bytes: int  # estimated size of one checkpoint file
    free_bytes: int  # free space where the checkpoint goes
    watching: str = ""  # previews, TensorBoard, evaluation during training, what is published
    discriminator: str = ""  # the PatchGAN's geometry at image_size (model.n_layers_d resolved)


def _smallest(files: list[Path]) -> tuple[Path, int, int]:
    best: tuple[Path, int, int] | None = None
    for path in files:
        w, h = image_size(path)  # from the header, EXIF rotation applied as training loads it
        if best is None or min(w, h) < min(best[1], best[2]):
            best = (path, w, h)
    assert best is not None  # domain_files refuses an empty domain
    return best


def checkpoint_bytes(parameters: int, tensors: int, pooled_images: int, image_size: int) -> int:
    """Estimated size of checkpoint.pt: weights and Adam's two moments for every parameter, the
    images kept in the two pools, and torch.save's per-tensor record (for each of the `tensors`
    parameter tensors: the weight, two moments and Adam's step; for each pooled image: itself)."""
    values = parameters * (1 + ADAM_VALUES_PER_PARAM) + 2 * pooled_images * 3 * image_size**2
    records = tensors * (2 + ADAM_VALUES_PER_PARAM) + 2 * pooled_images
    return BYTES_PER_VALUE * values + RECORD_BYTES * records


def _writable_folder(out_dir: Path) -> Path:
    """The nearest existing folder at or above out_dir, which must be writable (out_dir is made there)."""
    probe = out_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise SpaganError(f"{out_dir}: cannot create the run folder, {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SpaganError(f"{out_dir}: cannot create the run folder, {probe} is not writable")
    return probe


def plan_training(cfg: Config, data_dir: str | Path, out_dir: str | Path, *, device: str = "auto") -> TrainPlan:
    """Check everything a training run needs (data, image sizes, schedule, device, room for the
    checkpoint) and return its plan; SpaganError naming the first problem. `cfg` is already
    checked by the loader (ranges and cross-field rules)."""
    t_cfg, data_dir, out_dir = cfg.train, Path(data_dir), Path(out_dir)
    # missing folder or empty domain; too few images to hold train.eval_images out
    sliced = run_slice(t_cfg, data_dir)
    files_a, files_b = sliced.train_a, sliced.train_b
    counts = {"trainA": len(files_a), "trainB": len(files_b)}
    if sliced.held_out:  # evaluation during training scores these, the run never trains on them
        counts.update({"trainA held out": len(sliced.eval_a), "trainB held out": len(sliced.eval_b)})
    for split in ("testA", "testB"):  # evaluate needs them; training (and evaluation during it) does not
        if (data_dir / split).is_dir():
            counts[split] = len(list_images(data_dir / split))
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's; the group is joined by train()
    if max(len(files_a), len(files_b)) < t_cfg.batch_size * processes:
        raise SpaganError(f"{data_dir}: {max(len(files_a), len(files_b))} images per domain at most, fewer than "
                          f"train.batch_size x processes = {t_cfg.batch_size * processes}")
    smallest = _smallest(files_a + files_b)
    if min(smallest[1], smallest[2]) < t_cfg.image_size:
        # Not refused: every image is resized to load_size before the crop, as CycleGAN does, so
        # the run works (e.g. the paper's 256 px on the 64 px demo); the plan and the log say so.
        log.warning("%s: %dx%d px, smaller than train.image_size=%d: upscaled (blurry crops); lower "
                    "train.image_size or set data.min_size=%d so that prepare quarantines such images",
                    smallest[0], smallest[1], smallest[2], t_cfg.image_size, t_cfg.image_size)
    steps_per_epoch, total = schedule_length(t_cfg, len(files_a), len(files_b), processes)
    dev = pick_device(device)  # an explicit cuda without a GPU is refused here
    switches = {"bf16 autocast": autocast_factory(t_cfg.amp, dev) is not contextlib.nullcontext,
                "channels_last": memory_format(t_cfg.channels_last, dev) == torch.channels_last,
                "torch.compile": t_cfg.compile == "on"}
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        nets = build_networks(cfg.model)
    parameters = {name: sum(p.numel() for p in m.parameters()) for name, m in nets.by_name().items()}
    tensors = sum(len(list(m.parameters())) for m in nets.by_name().values())
    pooled = min(t_cfg.pool_size, total * t_cfg.batch_size)  # a pool keeps up to pool_size images
    size = checkpoint_bytes(sum(parameters.values()), tensors, pooled, t_cfg.image_size)
    free = shutil.disk_usage(_writable_folder(out_dir)).free
    if free < 2 * size:  # the atomic write holds the old and the new checkpoint for a moment
        raise SpaganError(f"{out_dir}: {_size(free)} free, a checkpoint needs about {_size(size)} "
                          f"(twice that while it is replaced)")
    return TrainPlan(
        data_dir=data_dir, counts=counts, smallest=smallest, image_size=t_cfg.image_size,
        load_size=t_cfg.load_size, batch_size=t_cfg.batch_size, processes=processes,
        steps_per_epoch=steps_per_epoch, total_steps=total, epochs=(t_cfg.epochs, t_cfg.epochs_decay),
        max_steps=t_cfg.max_steps, device=str(dev),
        precision=", ".join(k for k, on in switches.items() if on) or "fp32",
        loader_workers=loader_workers(t_cfg.num_workers, dev), parameters=parameters,
        checkpoint=out_dir / CHECKPOINT_NAME, checkpoint_bytes=size, free_bytes=free,
        watching=_watching(cfg, steps_per_epoch), discriminator=_discriminator(cfg),
    )


def _discriminator(cfg: Config) -> str:
    """One line: the PatchGAN's depth, receptive field and attention map at the training size,
    and what `auto` (the paper's geometry) would pick when the setting differs."""
    n, size = cfg.model.n_layers_d, cfg.train.image_size
    line = patch_geometry(n, size).describe()
    paper = auto_n_layers_d(size)
    if n != paper:
        line += f"; the paper's geometry (model.n_layers_d=auto) is {patch_geometry(paper, size).describe()}"
    return line


def _watching(cfg: Config, steps_per_epoch: int) -> str:
    """One line: previews, TensorBoard, evaluation during training, which checkpoint is published."""
    t, w = cfg.train, cfg.watch
    parts = [f"previews every {w.preview_every} steps" if w.preview_every else "no previews",
             "TensorBoard" if w.tensorboard else "no TensorBoard"]
    if t.eval_every:
        on = (f"the last {t.eval_images} training images per domain, held out of training" if t.eval_split == "holdout"
              else f"the first {t.eval_images} training images per domain (trained on)")
        parts.append(f"evaluation every {t.eval_every} epochs ({t.eval_every * steps_per_epoch} steps) on {on}, "
                     f"best by {SELECTABLE[t.select_by]} {t.select_by}")
    else:
        parts.append("no evaluation during training")
    return ", ".join(parts) + f"; publishes the {t.publish} checkpoint"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # pragma: no cover


def format_plan(plan: TrainPlan) -> str:
    """The plan as a few aligned lines."""
    c = plan.counts
    tests = f" (testA {c['testA']}, testB {c['testB']})" if "testA" in c and "testB" in c else ""
    held = (f" trained on, {c['trainA held out']} + {c['trainB held out']} held out for evaluation during training"
            if "trainA held out" in c else "")
    path, w, h = plan.smallest
    cap = f", stopped at train.max_steps={plan.max_steps}" if plan.max_steps else ""
    p = plan.parameters
    rows = [
        ("data", f"{plan.data_dir}: trainA {c['trainA']}, trainB {c['trainB']} images{held}{tests}"),
        ("images", f"smallest {path.relative_to(plan.data_dir)} {w}x{h} px; resized to train.load_size "
                   f"{plan.load_size}, cropped to train.image_size {plan.image_size}"
                   + (" (UPSCALED: smaller than the crop)" if min(w, h) < plan.image_size else "")),
        ("schedule", f"{plan.steps_per_epoch} steps/epoch x ({plan.epochs[0]} + {plan.epochs[1]} decay epochs)"
                     f"{cap} = {plan.total_steps} steps, batch {plan.batch_size} x {plan.processes} process(es)"),
        ("device", f"{plan.device}, {plan.precision}, {plan.loader_workers} loader worker(s)"),
        ("networks", f"G {p['G']:,} + F {p['F']:,} + D_A {p['D_A']:,} + D_B {p['D_B']:,} parameters"),
        ("patchgan", plan.discriminator),
        ("checkpoint", f"{plan.checkpoint}, about {_size(plan.checkpoint_bytes)} ({_size(plan.free_bytes)} free)"),
        ("watching", plan.watching),
    ]
    return "\n".join(f"{k:<11}{v}" for k, v in rows)
