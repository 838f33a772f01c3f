"""The task contract: a plain ``nn.Module`` that owns a model and a loss and returns a dict.

``forward(batch) -> {"loss": scalar, "logits": ..., <named parts>}``. The Lightning adapter (``engine.lightning``)
drives any task through this contract and never branches on which task it is: classification, acne LDL, SPBL and
distillation differ only in their task module and loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection

from dermkit.registry import Registry

TASKS: Registry[type[Task]] = Registry("task")


class Task(nn.Module):
    """Base class: a model, a loss, validation metrics and optimiser parameter groups.

    Subclasses implement :meth:`forward` and :meth:`make_metrics`/:meth:`update_metrics`.
    """

    name = "task"

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_metrics(self) -> MetricCollection:
        """Fresh streaming metrics (torchmetrics: correct under DDP) for validation."""
        return MetricCollection({})

    def update_metrics(self, metrics: MetricCollection, output: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        """Feed one validation batch to ``metrics``."""

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


def create_task(name: str, **kwargs: Any) -> Task:
    """Build the task registered as ``name`` (``classify``...) from its components."""
    return TASKS.get(name)(**kwargs)
