"""Multi-process training with ``torchrun``: process group, rank checks, reductions.

``torchrun --nproc-per-node N -m yoloxkit train ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
multi-node runs use torchrun's own ``--nnodes``/``--rdzv-*`` flags. NCCL is used on CUDA,
gloo on CPU. Only rank 0 writes files and validates; the others wait at barriers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import YoloxkitError


@dataclass(frozen=True)
class World:
    """Where this process stands: ``rank`` of ``size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True for the process that writes files and validates."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when there is more than one process."""
        return self.size > 1


def init_world(device: torch.device) -> World:
    """Join the process group torchrun describes (or a single-process world without one)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as exc:
            raise YoloxkitError(f"cannot join the {backend} process group of {size} processes: {exc}") from None
    return World(rank, size, local_rank)


def barrier(world: World) -> None:
    """Wait until every process arrives (no-op for one process)."""
    if world.distributed:
        dist.barrier()


def mean_over_processes(value: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``value`` over processes (the value itself for one process); no gradient."""
    if not world.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world.size


def broadcast_object(obj: object, world: World) -> object:
    """Rank 0's ``obj`` on every process."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def close_world(world: World) -> None:
    """Leave the process group."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, world: World, device: torch.device, sync_bn: bool) -> tuple[nn.Module, nn.Module]:
    """``(model, net)``: the model (with SyncBatchNorm when ``sync_bn`` on several CUDA processes)
    and what the step calls (DistributedDataParallel around it on several processes, else itself)."""
    if not world.distributed:
        return model, model
    if sync_bn:
        if device.type != "cuda":
            raise YoloxkitError("sync_bn: SyncBatchNorm needs CUDA (PyTorch has no CPU implementation); use finetune.freeze_bn on CPU")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return model, nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)
