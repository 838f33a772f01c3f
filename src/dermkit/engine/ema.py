"""An exponential moving average (EMA) of the weights, with batch-norm statistics measured on the averaged weights.

Lightning's :class:`~lightning.pytorch.callbacks.EMAWeightAveraging` (like timm's ``ModelEmaV3``) averages the
batch-norm running statistics along with the weights. Those statistics were measured with the live weights. When the
weights rotate quickly, as under AdamW at 3e-3 with weight decay on DermaMNIST, their average has a smaller norm than
any of them, so the averaged network's activations shrink while the averaged statistics do not: its logits flatten.
On ``configs/dermamnist_fast.yaml`` with a decay of 0.98, every validation predicted almost uniform probabilities
(validation loss ln 7 after epoch 1, accuracy 0.42 after epoch 3); measuring the statistics again with the averaged
weights on the training images, as stochastic weight averaging does (Izmailov et al., "Averaging Weights Leads to
Wider Optima and Better Generalization", UAI 2018, ``update_bn``), gave 0.73 on the same checkpoint.

:class:`BatchNormEMA` does that at the end of every training epoch, on at most ``bn_images`` training images, before
the averaged weights are validated or written to a checkpoint, and so before they are exported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from torch import nn


def _measured_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers of ``model`` that training updates: in training mode and tracking running statistics."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats
    ]


def remeasure_batchnorm(model: nn.Module, images: Iterable[torch.Tensor]) -> int:
    """Reset the running statistics of ``model``'s batch-norm layers in training mode and measure them again as
    the plain average over the batches of ``images`` (``momentum=None``); frozen layers (eval mode) keep theirs.

    Args:
        model: the network, in the train/eval state training left it in (its forward takes a batch of images).
        images: batches of input tensors, already on the model's device and in its memory format.

    Returns:
        The images measured (0 when the network has no batch-norm layer in training mode).
    """
    layers = _measured_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average: every batch counts the same
    seen = 0
    with torch.no_grad():
        for batch in images:
            model(batch)
            seen += len(batch)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    return seen


class BatchNormEMA(EMAWeightAveraging):
    """Lightning's EMA of the weights, whose batch-norm statistics are measured again on the averaged weights
    after the last training batch of each epoch (before validation and the epoch's checkpoint).

    Under DDP each process measures on its own shard and the statistics are averaged over the processes.

    Args:
        decay: the EMA decay per optimiser step.
        bn_images: training images to measure on (``trainer.ema_bn_images``; 0 keeps the averaged statistics, as
            Lightning and timm do).
    """

    def __init__(self, decay: float, bn_images: int) -> None:
        super().__init__(decay=decay)
        self.bn_images = bn_images

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.bn_images and self._average_model is not None and batch_idx + 1 >= trainer.num_training_batches:
            self._remeasure(trainer, pl_module)

    def _remeasure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        network = self._average_model.module.task.model  # type: ignore[union-attr]
        loader = trainer.train_dataloader
        batches = math.ceil(self.bn_images / max(1, loader.batch_size or 1))

        def images() -> Iterable[torch.Tensor]:
            for i, batch in enumerate(loader):
                if i >= batches:
                    return
                if "image" in batch:  # a batch whose every image was unreadable has none
                    yield batch["image"].to(pl_module.device).contiguous(memory_format=pl_module.memory_format)

        if not remeasure_batchnorm(network, images()) or trainer.world_size == 1:
            return
        for layer in _measured_layers(network):
            for stat in (layer.running_mean, layer.running_var):
                stat.copy_(trainer.strategy.reduce(stat, reduce_op="mean"))
