"""Streaming (torchmetrics) twins of metrics torchmetrics does not ship, for use during training.

They accumulate sufficient statistics in ``update`` and reduce in ``compute``, so they are correct under DDP
(states are summed across processes) and match the pure functions in :mod:`dermkit.metrics.functional`.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class MulticlassGMean(Metric):
    """Geometric mean of per-class recalls (G-mean; Kubat & Matwin, ICML 1997), as reported by the SPBL project.

    Classes absent from the targets seen so far are left out; a class with zero recall makes the G-mean 0.

    Args:
        num_classes: number of classes C.

    Shape:
        preds: (N, C) probabilities or logits, or (N,) class indices. target: (N,) class indices.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_classes: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.add_state("confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        labels = preds.argmax(dim=1) if preds.ndim == 2 else preds
        index = target.long() * self.num_classes + labels.long()
        self.confmat += torch.bincount(index, minlength=self.num_classes**2).reshape(self.num_classes, -1)

    def compute(self) -> torch.Tensor:
        support = self.confmat.sum(dim=1)
        present = support > 0
        if not present.any():
            return torch.tensor(float("nan"))
        recalls = self.confmat.diagonal()[present].double() / support[present]
        return recalls.prod() ** (1.0 / present.sum())
