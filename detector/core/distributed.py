"""torch.distributed in one place: start-up from torchrun's environment, and the few collectives
the trainer needs. With one process every helper is the identity, so the same code runs both ways.

    torchrun --nproc_per_node=2 train.py ...                       # one machine
    torchrun --nnodes=2 --node_rank=R --master_addr=HOST --master_port=29500 \\
        --nproc_per_node=8 train.py ...                            # two machines
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from detector.core.signals import StopFlag


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, draws the progress bar and writes files."""
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), NCCL on CUDA, gloo on CPU.

    Without torchrun's variables this is a single process and nothing is initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def current() -> DistInfo:
    """The process group already joined, or a single process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def mean_over_ranks(value: Tensor) -> Tensor:
    """The mean of ``value`` over all processes (a new tensor; no gradient flows through it)."""
    if current().world == 1:
        return value.detach().clone()
    out = value.detach().clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()


def sum_over_ranks(value: Tensor) -> Tensor:
    """The sum of ``value`` over all processes (a new tensor; no gradient flows through it)."""
    out = value.detach().clone()
    if current().world > 1:
        dist.all_reduce(out)
    return out


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is true on at least one process, so all take the same branch."""
    if current().world == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_lists(items: list[Any]) -> list[Any]:
    """Every process's ``items`` (picklable, e.g. CPU tensors) concatenated in rank order."""
    if current().world == 1:
        return items
    parts: list[list[Any] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in (part or [])]


def barrier() -> None:
    if current().world > 1:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block before the others do, e.g. to generate a dataset they then read."""
    main = current().main
    if not main:
        barrier()
    yield
    if main:
        barrier()


class StopVote:
    """Whether any process has asked to stop, agreed by all processes after the same step.

    One process: its own ``StopFlag``, at once. Several: each ``poll`` posts this process's request
    (an asynchronous all-reduce of one integer over a gloo group on the CPU, so nothing waits on the
    accelerator) and returns the previous step's result, which has long arrived by then: every
    process stops one step after the first request, at the same step. Call ``poll`` once per step
    on every process, and ``close`` when the loop ends.
    """

    def __init__(self, flag: StopFlag, group: Any = None) -> None:
        self.flag = flag
        self.world = current().world
        self.group = group
        self._pending: tuple[torch.Tensor, Any] | None = None

    @staticmethod
    def new_group() -> Any:
        """The CPU group a vote runs on (every process must call this, in the same order); None alone."""
        return dist.new_group(backend="gloo") if current().world > 1 else None

    def poll(self) -> bool:
        if self.world == 1:
            return self.flag.requested is not None
        agreed = self._result()
        mine = torch.tensor([int(self.flag.requested is not None)])
        self._pending = (mine, dist.all_reduce(mine, op=dist.ReduceOp.MAX, group=self.group, async_op=True))
        return agreed

    def _result(self) -> bool:
        if self._pending is None:
            return False
        value, work = self._pending
        work.wait()
        self._pending = None
        return bool(value.item())

    def close(self) -> None:
        """Wait for the last posted request (every process posted it), so no collective is left open."""
        self._result()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
