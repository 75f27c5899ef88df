"""Data-parallel training: torchrun / DDP set-up, on CPUs (gloo) or GPUs (NCCL), one or many nodes.

Launch with ``torchrun --nproc_per_node=N [--nnodes=M --rdzv-endpoint=HOST:PORT] -m
talkinghead.interfaces.cli train --config ...``: torchrun sets RANK / WORLD_SIZE / LOCAL_RANK and
:func:`init_distributed` joins the process group. Without those variables everything runs in one
process and the helpers are no-ops.

Each rank draws its own slice of the global batch (see :mod:`talkinghead.train.loop`), so with
per-sample normalisation the averaged gradients equal those of one process on the whole batch.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    dev = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank, world, local, dev)


def wrap_ddp(module: nn.Module, info: DistInfo) -> nn.Module:
    """DDP-wrap ``module`` when distributed (parameters are broadcast from rank 0 at construction)."""
    if not info.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)  # buffers synced from rank 0 each forward


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def mean_logs(logs: dict[str, torch.Tensor | float], info: DistInfo) -> dict[str, float]:
    """Average scalar logs over ranks (for the log file only; gradients are reduced by DDP)."""
    if not logs:
        return {}
    keys = sorted(logs)
    t = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64, device=info.device)
    if info.enabled:
        dist.all_reduce(t)
        t /= info.world_size
    return dict(zip(keys, t.cpu().tolist()))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_int(x: int, info: DistInfo) -> int:
    """Rank 0's ``x`` on every rank (e.g. the resume step)."""
    if not info.enabled:
        return x
    t = torch.tensor([x], dtype=torch.int64, device=info.device if info.device.type == "cuda" else "cpu")
    dist.broadcast(t, 0)
    return int(t.item())


def cleanup(info: DistInfo) -> None:
    """Tear the process group down once every rank got here (a rank that leaves while another is
    still writing its checkpoint can abort gloo's connection threads: "terminate called without an
    active exception")."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def autocast(info: DistInfo, precision: str):
    """bf16 autocast on GPUs ("auto" or "bf16"); a no-op on CPU and with "fp32"."""
    if info.device.type == "cuda" and precision in ("auto", "bf16"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
