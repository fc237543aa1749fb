"""Training in several processes: torchrun and DistributedDataParallel, on PyTorch's own engines.

`torchrun --nproc-per-node N vae-explorer train ...` starts N copies of the same command. Each
reads its place from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) and `start` joins them into one process group: gloo on CPUs, nccl on CUDA GPUs
(one GPU per process, cuda:LOCAL_RANK). `vae.train.fit` then wraps the model in
DistributedDataParallel (which broadcasts rank 0's initial weights and averages the gradients
during `backward`) and gives each process a disjoint slice of every global batch (`shard`), so N
processes make the same optimisation steps as one process with the same `batch_size`. Whatever
decides the run's course (the step's loss terms, a divergence, a stop request, the test
metrics) is summed across processes (`all_sum`) before anyone acts on it, so all of them take
the same branch; only rank 0 writes the model.

Without torchrun (WORLD_SIZE unset or 1) everything here is a no-op and nothing is imported
from torch.distributed. A process that dies (killed, out of memory) breaks its peers'
collectives: they raise `PeerFailed`, a one-line error, and write nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from dataclasses import dataclass
from collections.abc import Iterator

import torch


class PeerFailed(RuntimeError):
    """Another process of a multi-process run failed (or the run was stopped) mid-run."""


@dataclass(frozen=True)
class Group:
    """This process's place in the run: rank 0..world_size-1 (0 writes), and its GPU index on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the environment variable {name} must be a whole number, got {value!r}") from None


def from_env() -> Group:
    """The group torchrun described in the environment (rank 0 of 1 without torchrun); joins nothing."""
    group = Group(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    if group.world_size < 1 or not 0 <= group.rank < group.world_size:
        raise ValueError(f"RANK {group.rank} and WORLD_SIZE {group.world_size} from the environment do not fit together")
    return group


def current() -> Group:
    """This process's group if it joined one (`start`), else a single process."""
    if not _initialized():
        return Group()
    import torch.distributed as dist

    return Group(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))


def _initialized() -> bool:
    # torch.distributed is only imported once something here has joined a group.
    import sys

    dist = sys.modules.get("torch.distributed")
    return dist is not None and dist.is_available() and dist.is_initialized()


def local_device(device: torch.device) -> torch.device:
    """The device this process trains on: under a multi-process CUDA run, cuda:LOCAL_RANK."""
    if device.type == "cuda" and device.index is None and current().distributed:
        return torch.device("cuda", current().local_rank)
    return device


@contextlib.contextmanager
def start(group: Group, device: torch.device, timeout_s: float = 300.0) -> Iterator[Group]:
    """Join the process group described by `group` (nothing to do for one process) and leave it at the end.

    `device` is the resolved training device: nccl for CUDA (this process then uses
    cuda:LOCAL_RANK), gloo otherwise. `timeout_s` bounds how long a collective waits for a peer
    that stopped answering without dying (a dead peer is noticed at once).
    """
    if not group.distributed:
        yield group
        return
    import torch.distributed as dist

    if not dist.is_available():
        raise ValueError("this PyTorch build has no torch.distributed: run without torchrun")
    if device.type == "cuda":
        if device.index is not None and device.index != group.local_rank:
            raise ValueError(f"under torchrun each process trains on cuda:LOCAL_RANK; pass --device cuda or auto, "
                             f"not {device}")
        if group.local_rank >= torch.cuda.device_count():
            raise ValueError(f"process {group.rank} needs cuda:{group.local_rank}, but this machine has "
                             f"{torch.cuda.device_count()} GPU(s): start at most that many processes per node")
        torch.cuda.set_device(group.local_rank)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"multi-process training runs on CPUs (gloo) and CUDA GPUs (nccl), not on {device.type}")
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        raise PeerFailed(f"could not join the other {group.world_size - 1} training process(es): {_first_line(e)}") from None
    try:
        yield current()
        # Leave together: a process that tears its connections down while rank 0 still saves can die in
        # gloo's destructor (SIGABRT, "terminate called without an active exception").
        _barrier()
    finally:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` in DistributedDataParallel when this process is one of several, else `model` itself."""
    if not current().distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard(batch: torch.Tensor, group: Group) -> torch.Tensor:
    """This process's contiguous slice of a global batch of indices (sizes differ by at most one)."""
    if not group.distributed:
        return batch
    return batch.tensor_split(group.world_size)[group.rank]


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """`values` summed over the processes of the run (itself for a single process), in place."""
    if current().distributed:
        import torch.distributed as dist

        with collective():
            dist.all_reduce(values)
    return values


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every process when `flag` is True on any of them."""
    if not current().distributed:
        return bool(flag)
    return bool(all_sum(torch.tensor([float(flag)], device=device)).item() > 0)


@contextlib.contextmanager
def in_turn(group: Group) -> Iterator[None]:
    """Rank 0 first, then the others (e.g. to load a dataset rank 0 may have to download)."""
    if group.distributed and not group.is_main:
        _barrier()
    yield
    if group.distributed and group.is_main:
        _barrier()


def _barrier() -> None:
    if _initialized():
        import torch.distributed as dist

        with collective():
            dist.barrier()


@contextlib.contextmanager
def collective() -> Iterator[None]:
    """Turn the error a collective raises when a peer is gone into `PeerFailed` (one line)."""
    try:
        yield
    except RuntimeError as e:  # gloo / nccl: DistBackendError, or a plain RuntimeError in older torch
        if isinstance(e, PeerFailed) or not current().distributed:
            raise
        raise PeerFailed(f"another training process stopped answering ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    """The gist of a backend's error: its first sentence, without gloo's "[file.cc:123]" prefix."""
    text = re.sub(r"^(\[[^\]]*\]\s*)+", "", str(e).strip().split("\n", 1)[0])
    text = text.split(". ", 1)[0].rstrip(".")
    return (text[:150] + "...") if len(text) > 150 else (text or type(e).__name__)
