"""The trainable side of a task: a plain ``nn.Module`` that owns the network and the loss and returns a dict.

``forward(batch) -> {"loss": scalar, "loss_<part>": scalar..., <outputs>}``. The Lightning adapter
(``engine.lightning``) logs ``loss`` and every ``loss_<part>``, feeds the validation metrics through
:meth:`TrainingTask.update_metrics`, and never branches on which task it is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection


class TrainingTask(nn.Module):
    """Base class: a network, a loss, validation metrics and optimiser parameter groups.

    Args:
        model: the network that is exported (``model.safetensors``); its ``forward`` returns the task's outputs.
        loss: the loss module.
        freeze_batchnorm: keep every BatchNorm layer of ``model`` in eval mode with frozen affine parameters (the
            LDL and LDS recipes' ``set_bn_fix``).
    """

    name = "task"

    def __init__(self, model: nn.Module, loss: nn.Module, freeze_batchnorm: bool = False) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.freeze_batchnorm = freeze_batchnorm
        if freeze_batchnorm:
            for module in self._batchnorms():
                for parameter in module.parameters():
                    parameter.requires_grad_(False)

    def _batchnorms(self) -> list[nn.Module]:
        return [module for module in self.model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode: bool = True) -> TrainingTask:
        super().train(mode)
        if mode and self.freeze_batchnorm:
            for module in self._batchnorms():
                module.eval()  # running statistics stay those of the pretrained network
        return self

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_metrics(self) -> MetricCollection:
        """Fresh streaming metrics (torchmetrics: correct under DDP) for validation."""
        return MetricCollection({})

    def update_metrics(self, metrics: MetricCollection, output: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        """Feed one validation batch to ``metrics``."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the engine before each training epoch (deferred re-weighting, progressive schedules...)."""
        set_epoch = getattr(self.loss, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def param_groups(self, lr: float, head_lr_mult: float = 1.0) -> list[dict[str, Any]]:
        """Backbone parameters at ``lr``; every other trainable parameter (heads, adapters) at ``lr * head_lr_mult``."""
        backbone = getattr(self.model, "backbone", None)
        backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
        trainable = [p for p in self.parameters() if p.requires_grad]
        body = [p for p in trainable if id(p) in backbone_ids]
        rest = [p for p in trainable if id(p) not in backbone_ids]
        groups = [
            {"params": body, "lr": lr, "name": "backbone"},
            {"params": rest, "lr": lr * head_lr_mult, "name": "head"},
        ]
        return [group for group in groups if group["params"]]
