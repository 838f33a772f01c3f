"""Torchmetrics twins of dermkit's metrics, for use during training (thin modules over the pure functions).

They accumulate sufficient statistics in ``update`` and reduce in ``compute``, so they are correct under DDP
(states are summed across processes) and match the pure functions in :mod:`dermkit.metrics.functional`.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from dermkit.metrics.bootstrap import resolve_metric


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


class ProbabilityMetric(Metric):
    """Any metric of :data:`dermkit.metrics.bootstrap.METRICS` (MAUC, average precision, Brier, kappa, top-2...)
    as a torchmetrics module: ``update`` keeps targets and probabilities, ``compute`` calls the pure function.

    The states are concatenated across DDP processes (``dist_reduce_fx="cat"``), so the value is the one the pure
    function gives on all samples; memory grows with N x C, fine for validation sets.

    Args:
        name: the metric's name, e.g. ``"mauc"``; an unknown name raises, listing the valid ones.

    Shape:
        preds: (N, C) probabilities. target: (N,) class indices.
    """

    is_differentiable = False
    higher_is_better = None  # depends on the metric: lower is better for log_loss, brier and ece
    full_state_update = False

    def __init__(self, name: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.name, self.fn = resolve_metric(name)
        self.add_state("probabilities", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.probabilities.append(preds.detach().double())
        self.targets.append(target.detach().long())

    def compute(self) -> torch.Tensor:
        proba, target = dim_zero_cat(self.probabilities), dim_zero_cat(self.targets)
        return torch.tensor(float(self.fn(target.cpu().numpy(), proba.cpu().numpy())))
