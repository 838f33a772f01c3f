"""The trainable classification task: softmax over classes, or a single sigmoid logit for two classes (BCE).

Covers the two classic binary recipes (skin_disease_two_classification: ResNet-50 transfer learning with CE;
skin_classifier: ResNet18/ResNeXt50 with BCE) and any multi-class dataset. Its definition (options, outputs,
post-processing, evaluation) is :class:`dermkit.tasks.classify.Classify`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassCalibrationError,
    MulticlassF1Score,
    MulticlassRecall,
)

from dermkit.data.batch_mixing import BatchMixer
from dermkit.metrics.modules import MulticlassGMean
from dermkit.tasks.training import TrainingTask

OUTPUTS = ("softmax", "sigmoid")


def probabilities(logits: torch.Tensor, output: str) -> torch.Tensor:
    """Class probabilities (N, C) from logits.

    Args:
        logits: (N, C) for ``softmax``; (N,) or (N, 1) for ``sigmoid`` (the positive class's logit).
        output: ``softmax`` or ``sigmoid``.

    Returns:
        (N, C) probabilities; for ``sigmoid``, columns ``[1 - p, p]``.
    """
    if output == "softmax":
        return logits.float().softmax(dim=-1)
    if output == "sigmoid":
        positive = logits.float().reshape(logits.shape[0], -1)[:, :1].sigmoid()
        return torch.cat([1.0 - positive, positive], dim=1)
    raise ValueError(f"unknown output '{output}'; choose one of: {', '.join(OUTPUTS)}")


class ClassifyTask(TrainingTask):
    """Classify each image into one of ``num_classes``.

    Args:
        model: maps images (N, 3, H, W) to logits (N, C), or (N, 1) for a sigmoid loss.
        loss: ``(logits, target) -> scalar``; its ``output`` attribute (``softmax``/``sigmoid``) says how logits
            become probabilities.
        num_classes: number of classes C.
        freeze_batchnorm: see :class:`TrainingTask`.
        mixer: mixes each training batch in pairs (mixup / CutMix); None trains on the images as they are.

    ``forward`` returns ``{"loss", "logits", "probs"}``.
    """

    name = "classify"

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        num_classes: int,
        freeze_batchnorm: bool = False,
        mixer: BatchMixer | None = None,
    ) -> None:
        super().__init__(model, loss, freeze_batchnorm)
        self.num_classes = num_classes
        self.output = getattr(loss, "output", "softmax")
        self.mixer = mixer

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        images = batch["image"]
        mix = self.mixer(images) if self.training and self.mixer is not None and "target" in batch else None
        logits = self.model(images if mix is None else mix.images)
        out = {"logits": logits, "probs": probabilities(logits, self.output)}
        if "target" in batch:
            target = batch["target"]
            out["loss"] = self.loss(logits, target) if mix is None else mix.loss(self.loss, logits, target)
        return out

    def make_metrics(self) -> MetricCollection:
        classes = self.num_classes
        return MetricCollection({
            "acc": MulticlassAccuracy(classes, average="micro"),
            "balanced_acc": MulticlassRecall(classes, average="macro"),
            "f1": MulticlassF1Score(classes, average="macro"),
            "auroc": MulticlassAUROC(classes, average="macro"),
            "g_mean": MulticlassGMean(classes),
            "ece": MulticlassCalibrationError(classes, n_bins=15, norm="l1"),
        })  # fmt: skip

    def update_metrics(self, metrics: MetricCollection, output: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        metrics.update(output["probs"], batch["target"])
