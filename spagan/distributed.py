"""Data-parallel training across processes (torchrun): setup, gradient averaging, checks.

Gradients are averaged with one bucketed all-reduce per optimiser step instead of wrapping
the networks in DistributedDataParallel: the SPA-GAN step reuses discriminator passes across
the generator and discriminator updates and backpropagates with `inputs=` (only G/F, then only
D_A/D_B), which DDP's reducer cannot follow (it expects every parameter of a wrapped module to
receive a gradient after each forward). The arithmetic is the same as DDP's: every rank starts
from rank 0's weights and applies the same averaged gradient, so weights stay identical.
"""

import hashlib
import os
from dataclasses import dataclass

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
    if not info.enabled:
        return [value]
    out: list[str] = [""] * info.world_size
    dist.all_gather_object(out, value)
    return out


def shutdown(info: DistInfo) -> None:
    """Leave the process group (no-op when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
