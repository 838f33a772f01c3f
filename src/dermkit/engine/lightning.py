"""One LightningModule that adapts any dermkit task to the Lightning Trainer.

The adapter logs the task's loss and its streaming metrics, reports images that could not be decoded, and builds
the optimiser and schedule by name. It never branches on the task: a new method is a new task, not an engine change.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import lightning as L
import torch
from torchmetrics import MeanMetric, MetricCollection

from dermkit.engine.nonfinite import NonFiniteGuard
from dermkit.engine.optim import create_optimizer, create_scheduler
from dermkit.errors import ImageLoadError
from dermkit.tasks.training import TrainingTask

log = logging.getLogger("dermkit")


class TaskModule(L.LightningModule):
    """Drives ``task`` (``forward(batch) -> {"loss", ...}``) through training and validation.

    Args:
        task: the task module (owns model and loss).
        optim: keyword arguments for :func:`create_optimizer` (``name``, ``lr``, ``weight_decay``, ``momentum``,
            ``nesterov``, ``head_lr_mult``).
        sched: keyword arguments for :func:`create_scheduler` (``name`` and its options).
        strict: stop at the first unreadable image instead of skipping it.
        channels_last: keep the network's weights and the images in NHWC order (oneDNN's and cuDNN's fastest
            convolutions); False puts images back in the default NCHW order.
        compile: ``torch.compile`` the task in place (its ``state_dict`` keeps its keys, so checkpoints do not
            change).
        skip_nonfinite: non-finite training losses to skip before stopping (see :mod:`dermkit.engine.nonfinite`).
    """

    def __init__(
        self,
        task: TrainingTask,
        optim: dict[str, Any],
        sched: dict[str, Any],
        strict: bool = False,
        channels_last: bool = False,
        compile: bool = False,
        skip_nonfinite: int = 0,
    ) -> None:
        super().__init__()
        self.task = task
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        task.model.to(memory_format=self.memory_format)
        if compile:
            task.compile()
        self.optim = dict(optim)
        self.sched = dict(sched)
        self.strict = strict
        self.nonfinite = NonFiniteGuard(skip_nonfinite)
        self.val_metrics = task.make_metrics().clone(prefix="val/")
        # The val loss is a metric too, not a `self.log(sync_dist=True)` value: Lightning syncs logged values only on
        # the processes that logged them, so a DDP process whose whole val shard was unreadable would desync.
        self.val_loss = MeanMetric()
        self.skipped: dict[str, None] = {}
        # Zero-row copies of a readable batch and its output: under DDP they stand in for a process whose whole val
        # shard was unreadable, so its metric states have the same shapes and dtypes as the others' when they sync.
        self.empty_step: tuple[dict[str, Any], dict[str, Any]] | None = None

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.task(batch)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        image = batch.get("image")
        if isinstance(image, torch.Tensor) and image.ndim == 4:  # batched loaders hand NHWC views; others NCHW
            batch["image"] = image.contiguous(memory_format=self.memory_format)
        return batch

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
                # gradients and its vote on their losses, so take part in both, with zero gradients.
                self.nonfinite.drop_step = self.nonfinite.should_skip(self, None)
                return self._zero_loss()
            return None
        self.nonfinite.before_forward(self)
        out = self.task(batch)
        if self.nonfinite.should_skip(self, out["loss"]):
            if self.trainer.world_size == 1:
                return None  # Lightning skips the backward pass and the optimiser step
            # Under DDP every process must join the gradient all-reduce: the zero loss does, and
            # on_before_optimizer_step then drops its gradients.
            self.nonfinite.drop_step = True
            return self._zero_loss()
        self._remember_empty_step(batch, out)
        size = batch["image"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, on_step=True, on_epoch=True, batch_size=size)
        for key in sorted(key for key in out if key.startswith("loss_")):  # every named part of the task's loss
            self.log(f"train/{key}", out[key].detach(), on_step=False, on_epoch=True, batch_size=size)
        return out["loss"]

    def _zero_loss(self) -> torch.Tensor:
        return sum(parameter.sum() for parameter in self.parameters() if parameter.requires_grad) * 0.0

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.nonfinite.drop_step:  # a skipped batch (DDP): no gradient, so the optimiser changes no weight
            self.nonfinite.drop_step = False
            if getattr(self.trainer.precision_plugin, "scaler", None) is None:  # the fp16 scaler needs gradients
                optimizer.zero_grad(set_to_none=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.nonfinite.check_checkpoint(self, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.nonfinite.restore(checkpoint)

    def on_train_epoch_start(self) -> None:
        self.task.on_epoch_start(self.current_epoch)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not self._check_batch(batch):
            return
        out = self.task(batch)
        self._remember_empty_step(batch, out)
        self.val_loss.update(out["loss"].detach(), weight=batch["image"].shape[0])
        self.task.update_metrics(self.val_metrics, out, batch)

    def _remember_empty_step(self, batch: dict[str, Any], out: dict[str, torch.Tensor]) -> None:
        if self.empty_step is None and self.trainer.world_size > 1:
            self.empty_step = (_zero_rows(batch), _zero_rows(out))

    def on_validation_epoch_end(self) -> None:
        readable = self.val_loss.update_count > 0
        if self.trainer.world_size == 1:
            log_values = readable
        else:
            # Under DDP every process must join the metric sync, even one whose val images were all unreadable. The
            # sanity check skips it: before training a process may not have seen a readable batch yet, and all
            # processes must agree on whether to sync.
            log_values = not self.trainer.sanity_checking
            if log_values and not readable and self.empty_step is not None:
                # A list state (AUROC's predictions) still empty here cannot be gathered against the other
                # processes' (N, C) tensors, so those metrics take a zero-row step. Metrics with sum states sync as
                # they are (and some, like accuracy, refuse zero rows).
                batch, out = self.empty_step
                self.task.update_metrics(_list_state_metrics(self.val_metrics), out, batch)
        if log_values:
            with warnings.catch_warnings():
                # On a process with no readable val image torchmetrics warns that compute precedes update; the
                # synced states are the other processes', so the values are right.
                warnings.filterwarnings("ignore", message=r".*called before the ``update`` method")
                if self.trainer.sanity_checking:  # its few batches may miss a class, whose AUROC warns
                    warnings.filterwarnings("ignore", message="No positive samples in targets")
                values = {"val/loss": self.val_loss.compute(), **self.val_metrics.compute()}
            self.log_dict({key: value.float() for key, value in values.items()}, prog_bar=True, sync_dist=True)
        self.val_loss.reset()
        self.val_metrics.reset()

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


def _zero_rows(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every batched tensor cut to zero rows (same dtype, device and trailing shape) and lists
    emptied; scalars are kept."""
    empty: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, torch.Tensor):
            empty[key] = value.detach()[:0].clone() if value.ndim else value.detach()
        else:
            empty[key] = [] if isinstance(value, list) else value
    return empty


def _list_state_metrics(metrics: MetricCollection) -> MetricCollection:
    """The members of ``metrics`` (the same objects, not copies) that keep any state as a list."""
    members = metrics.items(keep_base=True, copy_state=False)
    return MetricCollection({
        name: metric for name, metric in members if any(isinstance(v, list) for v in metric.metric_state.values())
    })  # fmt: skip
