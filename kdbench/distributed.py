"""Process groups for `torchrun --nproc-per-node N kdbench train ...`: gloo on CPU, nccl on CUDA.

Without torchrun's environment (RANK, WORLD_SIZE) training is one process and nothing here
touches torch.distributed. Only rank 0 writes files; every rank computes the same decisions
(stop, early-stop) from all-reduced values, so no rank waits on a collective the others skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from kdbench.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _resolve_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {requested}: no CUDA device is visible to torch; use --device cpu"
            )
        return torch.device(requested if ":" in requested else f"cuda:{local_rank}")
    return torch.device(requested)


def launched() -> bool:
    """Whether torchrun started this process as one of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


SINGLE = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


# Sharded commands (`teacher score`, `evaluate`): after a relaunch the ranks whose parts are
# done wait at the merge for the others' whole shares, which may take hours, not the 10-30
# minutes a collective waits by default.
SHARDED_WAIT = timedelta(hours=48)


def setup(requested_device: str, timeout: timedelta | None = None) -> DistContext:
    """Join torchrun's process group when launched by it; else a single-process context.

    `timeout`: how long a collective may wait for the slowest rank (default: torch's)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if timeout is None:
            dist.init_process_group(backend=backend)
        else:
            dist.init_process_group(backend=backend, timeout=timeout)
    return DistContext(rank, world_size, local_rank, device)


def teardown(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, context: DistContext) -> torch.Tensor:
    if not context.enabled:
        return value
    reduced = value.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / context.world_size


def any_rank(flag: bool, context: DistContext) -> bool:
    """True on every rank when `flag` is true on any (a signal may reach only some ranks)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def gather_objects(value: T, context: DistContext) -> list[T]:
    """`value` from every rank, in rank order (on every rank)."""
    if not context.enabled:
        return [value]
    # all_gather_object fills every slot with a rank's `value`
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()
