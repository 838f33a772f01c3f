"""One LightningModule that adapts any dermkit task to the Lightning Trainer.

The adapter logs the task's loss and its streaming metrics, reports images that could not be decoded, and builds
the optimiser and schedule by name. It never branches on the task: a new method is a new task, not an engine change.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from dermkit.engine.optim import create_optimizer, create_scheduler
from dermkit.errors import ImageLoadError
from dermkit.tasks.base import Task

log = logging.getLogger("dermkit")


class TaskModule(L.LightningModule):
    """Drives ``task`` (``forward(batch) -> {"loss", ...}``) through training and validation.

    Args:
        task: the task module (owns model and loss).
        optim: keyword arguments for :func:`create_optimizer` (``name``, ``lr``, ``weight_decay``, ``momentum``,
            ``nesterov``, ``head_lr_mult``).
        sched: keyword arguments for :func:`create_scheduler` (``name`` and its options).
        strict: stop at the first unreadable image instead of skipping it.
    """

    def __init__(self, task: Task, optim: dict[str, Any], sched: dict[str, Any], strict: bool = False) -> None:
        super().__init__()
        self.task = task
        self.optim = dict(optim)
        self.sched = dict(sched)
        self.strict = strict
        self.val_metrics = task.make_metrics().clone(prefix="val/")
        self.skipped: dict[str, None] = {}
        self.val_updates = 0

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.task(batch)

    def _check_batch(self, batch: dict[str, Any]) -> bool:
        for error in batch.get("skipped", ()):
            if self.strict:
                path, _, reason = error.partition(": ")
                raise ImageLoadError(path, f"{reason} (stopping: --strict)")
            if error not in self.skipped:
                self.skipped[error] = None
                log.warning("skipped unreadable image %s", error)
        return "image" in batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        if not self._check_batch(batch):
            if self.trainer.world_size > 1:
                # Every image of this batch was unreadable. Under DDP the other processes wait for this one's
                # gradients, so take part in the all-reduce with zero gradients instead of skipping.
                return sum(parameter.sum() for parameter in self.parameters() if parameter.requires_grad) * 0.0
            return None
        out = self.task(batch)
        size = batch["image"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, on_step=True, on_epoch=True, batch_size=size)
        return out["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not self._check_batch(batch):
            return
        out = self.task(batch)
        self.log(
            "val/loss", out["loss"], prog_bar=True, on_epoch=True, batch_size=batch["image"].shape[0], sync_dist=True
        )
        self.task.update_metrics(self.val_metrics, out, batch)
        self.val_updates += 1

    def on_validation_epoch_end(self) -> None:
        # Under DDP every process must join the metric sync, even one whose images were all unreadable.
        if self.val_updates or self.trainer.world_size > 1:
            values = self.val_metrics.compute()
            self.log_dict({key: value.float() for key, value in values.items()}, prog_bar=True, sync_dist=True)
        self.val_metrics.reset()
        self.val_updates = 0

    def configure_optimizers(self) -> dict[str, Any]:
        options = dict(self.optim)
        name = options.pop("name")
        groups = self.task.param_groups(options["lr"], options.pop("head_lr_mult", 1.0))
        optimizer = create_optimizer(name, groups, **options)
        sched = dict(self.sched)
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        epochs = max(1, self.trainer.max_epochs or 1)
        schedule = create_scheduler(
            sched.pop("name", None), optimizer, total_steps=steps, steps_per_epoch=max(1, steps // epochs), **sched
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule} if schedule else {"optimizer": optimizer}
