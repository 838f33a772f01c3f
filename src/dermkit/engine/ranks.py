"""Training on many processes and machines, safely: every rank must train on the same split, and the Trainer must
span every process the launcher started.

Lightning decides the ranks (torchrun, SLURM or its own launcher); dermkit only checks what would otherwise fail
silently: a Trainer for one process under a launcher of N (each process would train and write the run folder on its
own), and nodes that read different data (a data folder that is not on a shared file system), which would train each
rank on another split.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import lightning as L

from dermkit.engine.setup import TrainingData
from dermkit.errors import ConfigError, DataError
from dermkit.inference.shards import cluster_environment, input_digest

log = logging.getLogger("dermkit")


def split_fingerprint(data: TrainingData) -> str:
    """A fingerprint of the class names and the train and validation records (paths, labels, in order)."""
    digest = hashlib.sha1("\0".join(data.class_names).encode())
    for part in (data.train, data.val):
        digest.update(input_digest(part.records).encode())
    return digest.hexdigest()[:12]


def check_launcher(trainer: L.Trainer) -> None:
    """Refuse a one-process Trainer in a job a launcher started as several processes.

    Lightning runs such a Trainer alone in each process: every rank would train its own model and write the same
    run folder. ``trainer.num_nodes x trainer.devices`` must equal the processes launched.

    Raises:
        ConfigError: the launcher started more processes than the Trainer spans.
    """
    env = cluster_environment()
    if env is None or env.world_size() == 1 or trainer.world_size > 1:
        return
    source = "SLURM_NTASKS, under srun" if type(env).__name__.startswith("SLURM") else "torchrun's WORLD_SIZE"
    raise ConfigError(
        f"trainer: this job has {env.world_size()} processes ({source}) but trainer.num_nodes x trainer.devices "
        "is 1; set trainer.num_nodes=<machines> trainer.devices=<processes per machine> trainer.strategy=ddp"
    )


class RankCheck(L.Callback):
    """Before training, checks that every rank has the same split and logs one line per rank; after, a summary.

    Args:
        data: this process's train and validation records.
    """

    def __init__(self, data: TrainingData) -> None:
        self.fingerprint = split_fingerprint(data)
        self.sizes = (len(data.train), len(data.val))

    def _label(self, trainer: L.Trainer) -> str:
        return f"rank {trainer.global_rank} of {trainer.world_size} (node {trainer.node_rank})"

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.world_size == 1:
            return
        log.info("%s: %d train + %d val images, split %s", self._label(trainer), *self.sizes, self.fingerprint)
        reference = trainer.strategy.broadcast(self.fingerprint, src=0)
        if not trainer.strategy.reduce_boolean_decision(reference == self.fingerprint, all=True):
            # raised on every rank at once (the decision is shared), so none is left waiting for the others
            raise DataError(
                f"{self._label(trainer)}: the ranks read different training data (split {self.fingerprint}"
                f" here, {reference} on rank 0); put data.root on a file system every node shares, "
                "at the same path"
            )

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:
            skipped: Any = getattr(pl_module, "skipped", ())
            log.info(
                "%s: %d epochs, %d steps, %d unreadable images skipped",
                self._label(trainer),
                trainer.current_epoch,
                trainer.global_step,
                len(skipped),
            )
