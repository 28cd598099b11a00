"""Multi-process training launched by `torchrun` (one node or many): ranks, devices, gradient averaging.

Gradients are averaged with one flattened all-reduce per optimiser step instead of wrapping modules in
`DistributedDataParallel`: a GAN step calls each discriminator several times (real, synthetic,
mismatched) before one backward, which DDP's reducer does not support, while averaging the summed
gradients is exactly DDP's semantics. Parameters start identical (same seed; rank 0's state is also
broadcast) and receive identical updates. BatchNorm statistics stay per rank (DDP's
`broadcast_buffers` is emulated at checkpoint time: rank 0's are the ones written). Only rank 0 writes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from t2vbench.errors import UserError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: str | None = None) -> Dist:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK; join the process group (nccl on CUDA, gloo on CPU)."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    if device == "cuda":
        if local >= torch.cuda.device_count():
            raise UserError(f"--device cuda: this process sees {torch.cuda.device_count()} CUDA device(s) "
                            f"(torch {torch.__version__}) and needs device {local}; use --device cpu")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Dist(rank, world, local, device)


def average_gradients(params, world: int) -> None:
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def broadcast_state(module) -> None:
    """Make every rank hold rank 0's parameters and buffers."""
    import torch.distributed as dist

    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, 0)


def barrier(d: Dist) -> None:
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def cleanup(d: Dist) -> None:
    if d.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
