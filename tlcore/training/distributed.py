"""One run trained by several processes (data-parallel): who this process is, and what the processes agree on.

torchrun (or the CLI's --nproc-per-node, which launches through torchrun's own launcher) starts one
process per device with RANK, WORLD_SIZE and LOCAL_RANK in its environment. Every process runs the
same worker on the same run folder; World says which share of the pictures is this process's, and
its collectives (gloo on the CPU, NCCL on GPUs) put the shares back together. A single process has
World() with size 1, where every collective is the identity and nothing is imported or started.
"""
import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from tlcore.data.batches import block_of

COLLECTIVE_TIMEOUT_ENV = "TLSTUDIO_COLLECTIVE_TIMEOUT_S"
# A process that died or hangs fails the others' next collective after this long, never a wait forever.
DEFAULT_COLLECTIVE_TIMEOUT_S = 300.0


class PeerLost(RuntimeError):
    """Another process of the run stopped answering: it died, was killed, or hangs."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder (status, events, models): rank 0 alone."""
        return self.rank == 0

    # -- sharing the work ----------------------------------------------------------------------------

    def block(self, count: int) -> tuple[int, int]:
        """This process's contiguous share [start, stop) of count rows, as ArrayBatches shares a set in order."""
        return block_of(count, self.rank, self.size)

    # -- agreeing --------------------------------------------------------------------------------------

    def first_decides(self, decide):
        """decide() on rank 0 alone, its answer on every process; an error it met is raised on each."""
        if not self.active:
            return decide()
        box = [None]
        if self.rank == 0:
            try:
                box = [(True, decide())]
            except Exception as error:  # every process refuses alike, none waits for an answer
                box = [(False, error)]
        self._collective(dist.broadcast_object_list, box, 0)
        answered, value = box[0]
        if not answered:
            raise value
        return value

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one (a cancel seen by one stops all at the same step)."""
        if not self.active:
            return flag
        return bool(self._reduce(torch.tensor([float(flag)]), dist.ReduceOp.MAX)[0])

    def max(self, value: int) -> int:
        """The largest of the processes' values."""
        if not self.active:
            return value
        return int(self._reduce(torch.tensor([float(value)]), dist.ReduceOp.MAX)[0])

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the processes."""
        if not self.active:
            return list(values)
        return self._reduce(torch.tensor(values, dtype=torch.float64), dist.ReduceOp.SUM).tolist()

    def gather_rows(self, rows: np.ndarray) -> np.ndarray:
        """Every process's rows, concatenated in rank order: with block() shares, the set's own order."""
        if not self.active:
            return rows
        parts: list = [None] * self.size
        self._collective(dist.all_gather_object, parts, rows)
        return np.concatenate(parts)

    def same_as_first(self, module: nn.Module) -> None:
        """Give every process rank 0's parameters and buffers (a head solved on each, BatchNorm statistics)."""
        if not self.active:
            return
        for tensor in [*module.parameters(), *module.buffers()]:
            with torch.no_grad():
                self._collective(dist.broadcast, tensor.data, 0)

    def average_norm_statistics(self, module: nn.Module) -> None:
        """BatchNorm running statistics averaged over the processes: each measured them on its own share."""
        if not self.active:
            return
        for norm in module.modules():
            if isinstance(norm, nn.modules.batchnorm._BatchNorm) and norm.running_mean is not None:
                for buffer in (norm.running_mean, norm.running_var):
                    self._collective(dist.all_reduce, buffer.data, dist.ReduceOp.SUM)
                    buffer.data /= self.size

    def _reduce(self, values: torch.Tensor, op) -> torch.Tensor:
        on = self._collective_device()
        moved = values.to(on)
        self._collective(dist.all_reduce, moved, op)
        return moved.cpu()

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")

    @staticmethod
    def _collective(operation, *args) -> None:
        try:
            operation(*args)
        except RuntimeError as error:  # gloo and NCCL say a peer is gone this way (DistError is one)
            lost = peer_lost(error)
            if lost is None:
                raise
            raise lost from error


SINGLE = World()

# What gloo and NCCL's errors say when the other end of a collective is gone or silent.
_PEER_WORDS = ("Connection closed by peer", "Connection reset by peer", "Timed out", "timed out", "Gloo", "NCCL")


def peer_lost(error: BaseException) -> PeerLost | None:
    """The error in words when it says another process of the run is gone (a collective failed or timed
    out, in this package's own calls or inside DistributedDataParallel's backward); else None."""
    if isinstance(error, PeerLost):
        return error
    text = str(error).strip()
    if isinstance(error, dist.DistError) or any(words in text for words in _PEER_WORDS):
        first = text.splitlines()[0][:200] if text else type(error).__name__
        return PeerLost(f"Another process of this run stopped answering ({first}).")
    return None


def world_from_env() -> World:
    """The world torchrun describes in this process's environment; one process when it describes none."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return SINGLE
    return World(rank, size, local_rank) if size > 1 else SINGLE


def collective_timeout_s() -> float:
    try:
        return max(1.0, float(os.environ.get(COLLECTIVE_TIMEOUT_ENV, DEFAULT_COLLECTIVE_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_COLLECTIVE_TIMEOUT_S


def join(world: World, device: torch.device) -> None:
    """Start this process's part of the process group (once; nothing for a single process).

    NCCL on GPUs (each process on the GPU of its local rank), gloo on the CPU."""
    if not world.active or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=collective_timeout_s()),
                            rank=world.rank, world_size=world.size)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
