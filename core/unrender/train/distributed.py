"""The distributed side of training: the torchrun environment, the process group and the batch order.

One batch order for every world size: each epoch's items are a ``DistributedSampler`` permutation
(seeded with the run's seed, ``set_epoch(epoch)``), and rank ``r`` of ``W`` takes the items
``r, r + W, r + 2W, ...`` of it, cut into local batches of ``batch_size / W``. Global batch ``k`` of
an epoch, the union of the ranks' local batches ``k``, is then the items ``k B .. (k + 1) B - 1`` of
the permutation (``B`` the global batch) whatever ``W`` is; a single process is the case ``W = 1``.
With losses that are means over the items of a batch and per-sample normalisation, DDP's mean of the
ranks' gradients is the single-process gradient of the global batch, so the parameters agree to
rounding.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "dist_info", "init_distributed", "finish_distributed", "local_batch_size",
           "epoch_batches", "any_rank", "mean_over_ranks"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the run: ``rank`` of ``world_size`` (``local_rank`` on its machine)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that validates, logs and writes files."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"{name}: expected an integer environment variable, found {v!r}") from None


def dist_info() -> DistInfo:
    """The torchrun environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); one process without it."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK: expected 0 <= RANK < WORLD_SIZE, found RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank, world, _env_int("LOCAL_RANK", rank))


def init_distributed(device: str = "cpu") -> tuple[DistInfo, torch.device]:
    """Join the process group when ``WORLD_SIZE`` > 1 (gloo on the CPU, nccl on CUDA; ``MASTER_ADDR``
    and ``MASTER_PORT`` from torchrun) and pick this rank's device (``cuda:LOCAL_RANK`` on CUDA)."""
    info = dist_info()
    dev = torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: 'cuda' was asked for, but torch finds no CUDA device")
        dev = torch.device("cuda", info.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    if info.distributed and not torch.distributed.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if not os.environ.get(name):
                raise ValueError(f"{name}: a distributed run (WORLD_SIZE={info.world_size}) needs it; start it with torchrun")
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                             rank=info.rank, world_size=info.world_size)
    return info, dev


def finish_distributed(info: DistInfo) -> None:
    """Wait for every rank, then leave the process group (nothing for a single process).

    The finished DDP wrapper is collected first: its reducer (kept alive by reference cycles) holds gloo
    work objects, and freeing those at interpreter exit instead can abort the process (SIGABRT,
    "terminate called without an active exception"), as one loaded test run showed."""
    if info.distributed and torch.distributed.is_initialized():
        gc.collect()
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def local_batch_size(batch_size: int, world_size: int) -> int:
    """Each rank's share of the global ``batch_size``; a ``ValueError`` when it does not divide evenly."""
    if batch_size % world_size:
        raise ValueError(f"batch_size: expected a multiple of the {world_size} processes (the global batch is "
                         f"split evenly over them), found {batch_size}")
    return batch_size // world_size


def epoch_batches(n: int, batch_size: int, info: DistInfo, seed: int, epoch: int) -> list[list[int]]:
    """This rank's local batches of ``epoch`` over ``n`` items: ``n // batch_size`` batches of
    ``batch_size / world_size`` indices each (see the module docstring: the same global batches for
    every world size). ``batch_size`` is the global batch; it must not exceed ``n``."""
    from torch.utils.data import DistributedSampler

    if batch_size > n:
        raise ValueError(f"batch_size: expected at most the {n} training items, found {batch_size}")
    local = local_batch_size(batch_size, info.world_size)
    sampler = DistributedSampler(range(n), num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                 seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    idx = list(sampler)
    return [idx[k * local:(k + 1) * local] for k in range(n // batch_size)]


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (so that all ranks stop at the same step)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(value: float, info: DistInfo, device: torch.device) -> float:
    """The mean of ``value`` over the ranks (a batch-mean loss becomes the global batch's mean)."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)
    torch.distributed.all_reduce(t)
    return float(t.item()) / info.world_size
