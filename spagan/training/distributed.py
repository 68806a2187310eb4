"""Data-parallel training across processes (torchrun): setup, gradient averaging, checks.

Gradients are averaged with one bucketed all-reduce per optimiser step instead of wrapping
the networks in DistributedDataParallel: the SPA-GAN step reuses discriminator passes across
the generator and discriminator updates and backpropagates with `inputs=` (only G/F, then only
D_A/D_B), which DDP's reducer cannot follow (it expects every parameter of a wrapped module to
receive a gradient after each forward). The arithmetic is the same as DDP's: every rank starts
from rank 0's weights and applies the same averaged gradient, so weights stay identical.
"""

import hashlib
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (WORLD_SIZE > 1); NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def broadcast_parameters(modules: list[torch.nn.Module]) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    for module in modules:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(params: list[torch.Tensor]) -> None:
    """All-reduce (mean) the gradients of `params` in one flat bucket."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(synced)


def weights_digest(modules: list[torch.nn.Module]) -> str:
    """sha256 over all parameters' bytes: equal on every rank when training stayed in sync."""
    h = hashlib.sha256()
    for module in modules:
        for p in module.parameters():
            h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def gather_strings(value: str, info: DistInfo) -> list[str]:
    """Every rank's `value`, in rank order (a list of one without torchrun)."""
    return gather_objects(value, info)


def gather_objects(value: Any, info: DistInfo) -> list[Any]:
    """Every rank's picklable `value`, in rank order (a list of one without torchrun)."""
    if not info.enabled:
        return [value]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, value)
    return out


def collective_device(backend: str | None = None) -> torch.device:
    """Where tensors for a collective of `backend` (default: the process group's) must live:
    NCCL only takes CUDA tensors (on this process's GPU), gloo takes CPU tensors."""
    backend = str(backend or dist.get_backend()).lower()
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def step_outcome(losses: torch.Tensor, stop_asked: bool, info: DistInfo) -> tuple[list[float], bool, bool]:
    """(this rank's losses as floats, whether any rank asked to stop, whether any rank's losses
    are non-finite), with one device-to-host transfer per step.

    One process: the losses are fetched and checked on the host; nothing else runs. Several:
    both flags are computed on the device and all-reduced (MAX) on the process group's device
    together, then fetched in the same transfer as the losses, so a rank whose loss went
    non-finite stops every rank at the same step instead of leaving them blocked in the next
    gradient all-reduce.
    """
    if not info.enabled:
        values = losses.float().tolist()
        return values, stop_asked, not all(math.isfinite(v) for v in values)
    dev = collective_device()
    # torch.full writes on the device (no host-to-device copy, which would wait for the GPU).
    flags = torch.stack([torch.full((), float(stop_asked), device=losses.device),
                         (~torch.isfinite(losses)).any().float()]).to(dev)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    fetched = torch.cat([losses.float().to(dev), flags]).tolist()
    return fetched[:-2], fetched[-2] > 0, fetched[-1] > 0


def shutdown(info: DistInfo) -> None:
    """Leave the process group (no-op when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
