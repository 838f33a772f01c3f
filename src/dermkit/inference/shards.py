"""Which share of the inputs this process handles, and how the processes of one sharded job meet at the end.

A sharded job runs the same command in N processes (on one machine or many). The rank comes from Lightning's own
cluster-environment detection (``torchrun`` -> :class:`TorchElasticEnvironment`, ``srun`` ->
:class:`SLURMEnvironment`), or from ``--shard K/N`` given by hand; dermkit launches nothing itself. Each process
takes the inputs of its :class:`Shard` (strided or contiguous by input index, so every input belongs to exactly one
shard), writes its own part file, and, under a launcher, the processes meet in a gloo process group so that rank 0
can merge the parts once every rank has finished (:func:`joined`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from dermkit.data.records import Record
from dermkit.errors import ConfigError, DataError

log = logging.getLogger("dermkit")
T = TypeVar("T")

LAYOUTS = ("strided", "contiguous")
#: How long rank 0 waits for the slowest rank to finish its part (a shard of a large archive can take hours).
WAIT = timedelta(hours=24)


@dataclass(frozen=True)
class Shard:
    """Process ``index`` of ``count`` (0-based, like ranks).

    Attributes:
        index: this process's share, 0..count-1 (its global rank under a launcher).
        count: how many shares the inputs are split into (the world size).
        launcher: ``torchrun`` or ``SLURM`` when a launcher started the processes (they meet to merge), None when
            the shard was given by hand (``--shard K/N``; ``--merge`` joins the parts later) or for one process.
    """

    index: int = 0
    count: int = 1
    launcher: str | None = None

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"shard {self.index}/{self.count}: K/N needs N >= 1 and 0 <= K < N (e.g. 0/2 and 1/2)")

    @property
    def label(self) -> str:
        """``rank 1 of 2`` (launcher) or ``shard 1 of 2`` (by hand); empty for one process."""
        if self.count == 1:
            return ""
        return f"{'rank' if self.launcher else 'shard'} {self.index} of {self.count}"

    def indices(self, n: int, layout: str = "strided") -> list[int]:
        """The input indices (of ``n``, in input order) this shard handles; see :func:`shard_indices`."""
        return shard_indices(n, self.index, self.count, layout)

    def part_path(self, out: str | Path, suffix: str = "") -> Path:
        """``<out>.part-K-of-N<suffix>``: this shard's part of the file ``out``."""
        out = Path(out)
        return out.with_name(f"{out.name}.part-{self.index}-of-{self.count}{suffix}")


def shard_indices(n: int, index: int, count: int, layout: str = "strided") -> list[int]:
    """The indices of inputs ``0..n-1`` that shard ``index`` of ``count`` handles; every index is in exactly one.

    ``strided`` takes every ``count``-th input from ``index`` (a folder sorted by class, or with its broken files
    together, is spread evenly); ``contiguous`` takes one block, the first ``n % count`` shards one input more.

    Example:
        >>> shard_indices(5, 1, 2), shard_indices(5, 1, 2, "contiguous")
        ([1, 3], [3, 4])
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown shard layout '{layout}'; choose one of: {', '.join(LAYOUTS)}")
    if layout == "strided":
        return list(range(index, n, count))
    size, extra = divmod(n, count)
    start = index * size + min(index, extra)
    return list(range(start, start + size + (index < extra)))


def parse_shard(text: str) -> Shard:
    """``K/N`` (``--shard 1/4``: the second of four shares) as a :class:`Shard` given by hand."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return Shard(int(index), int(count))
    except ValueError:
        raise ConfigError(f"--shard '{text}': expected K/N with 0 <= K < N, e.g. 0/2 and 1/2") from None


def cluster_environment() -> Any | None:
    """The Lightning cluster environment of a launcher that started this process (``torchrun``: TorchElastic;
    ``srun``: SLURM), or None (one process, or processes Lightning spawns itself). Without Lightning (the torch-free
    ONNX runtime install) there is no launcher to ask: one process, or ``--shard K/N`` by hand."""
    try:
        from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
    except ImportError:
        return None

    if TorchElasticEnvironment.detect():
        return TorchElasticEnvironment()
    if SLURMEnvironment.detect():
        try:
            return SLURMEnvironment()
        except RuntimeError as exc:  # e.g. --ntasks without --ntasks-per-node
            raise ConfigError(f"SLURM: {str(exc).splitlines()[0]}") from None
    return None


def detect_shard() -> Shard:
    """This process's shard as the launcher says (rank and world size), or the whole input for one process."""
    env = cluster_environment()
    if env is None:
        return Shard()
    launcher = "SLURM" if type(env).__name__.startswith("SLURM") else "torchrun"
    return Shard(env.global_rank(), env.world_size(), launcher)


def process_label() -> str:
    """Which process this is, for progress lines: ``rank 1 of 2`` under a launcher, ``local rank 1`` in a process
    Lightning started itself, empty for one process (Lightning's environments read the variables)."""
    shard = detect_shard()
    if shard.count > 1:
        return shard.label
    from lightning.fabric.plugins.environments import LightningEnvironment

    env = LightningEnvironment()
    if env.creates_processes_externally and (env.local_rank() or env.node_rank()):
        return f"node {env.node_rank()} local rank {env.local_rank()}"
    return ""


def input_digest(records: Iterable[Record]) -> str:
    """A short fingerprint of records (paths, labels, splits, in order): equal on every process that read the same
    data, so processes can check they agree before their parts are joined."""
    digest = hashlib.sha1()
    for record in records:
        digest.update(f"{record.path}\0{record.label}\0{record.split}\n".encode())
    return digest.hexdigest()[:12]


class Group:
    """The processes of one sharded job (:func:`joined`); alone, it is just this process."""

    def __init__(self, shard: Shard, joined: bool) -> None:
        self.shard, self.joined = shard, joined

    def gather(self, value: Any, wait: timedelta = WAIT) -> list[Any]:
        """Every rank's ``value``, in rank order, once all ranks have got here (at most ``wait`` for the slowest);
        ``[value]`` alone."""
        if not self.joined:
            return [value]
        from torch import distributed as dist

        dist.monitored_barrier(timeout=wait)  # names a rank that never arrives, instead of hanging
        values: list[Any] = [None] * self.shard.count
        dist.all_gather_object(values, value)
        return values


@contextlib.contextmanager
def joined(shard: Shard) -> Iterator[Group]:
    """Join the other processes of a launched job (gloo, on the launcher's main address and port) for the block.

    Shards given by hand and single processes join nothing: their :meth:`Group.gather` returns their own value.
    """
    if shard.launcher is None or shard.count == 1:
        yield Group(shard, False)
        return
    from torch import distributed as dist

    if dist.is_initialized():
        yield Group(shard, True)
        return
    env = cluster_environment()
    # Lightning's environments know the rendezvous: SLURM's derives it from the node list and the job id
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = env.main_address, str(env.main_port)
    dist.init_process_group("gloo", rank=shard.index, world_size=shard.count)
    log.debug("%s joined the process group at %s", shard.label, os.environ["MASTER_ADDR"])
    try:
        yield Group(shard, True)
    finally:
        dist.destroy_process_group()


def leave_process_group(finished: bool) -> None:
    """End a DDP process's part cleanly: wait for the others (rank 0 exports after training), then destroy the
    process group. A process that exits with the group alive can abort at interpreter shutdown (gloo's worker threads
    still hold tensors), failing the launcher's job. torch is not imported for this: only if the caller loaded it."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    try:
        if finished:  # after an error another process may never arrive
            dist.barrier()
    finally:
        dist.destroy_process_group()


def on_every_rank(group: Group, work: Callable[[], T]) -> T:
    """Run ``work`` here, then wait for every rank of ``group``: when any rank failed, every rank raises (the failed
    one its own error, the others a :class:`DataError` naming it), so no rank is left waiting for a dead one."""
    try:
        value = work()
    except Exception as exc:
        group.gather(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    failed = [(rank, status) for rank, status in enumerate(group.gather(None)) if status]
    if failed:
        rank, status = failed[0]
        raise DataError(f"rank {rank} of {group.shard.count} failed, so the parts were not merged: {status}")
    return value
