"""The trainable acne task: a backbone with a grading head and a counting head, trained with LDL or LDS.

Wu et al., "Joint Acne Image Grading and Counting via Label Distribution Learning", ICCV 2019; Prokhorov & Kalinin,
"Improving Acne Image Grading with Label Distribution Smoothing", ISBI 2024. The definition (options, decoding,
evaluation) is :mod:`dermkit.tasks.acne`; the losses are :mod:`dermkit.losses.ldl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchmetrics import MeanAbsoluteError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassCohenKappa

from dermkit.losses.ldl import group_sum
from dermkit.tasks.training import TrainingTask


class AcneTask(TrainingTask):
    """Grade and count acne lesions.

    Args:
        model: a two-head network returning ``(grade_logits, count_logits)``.
        loss: :class:`dermkit.losses.ldl.LDLLoss` returning ``{"loss", "loss_grade", "loss_count",
            "loss_count2grade"}``.
        ranges: per grade, its inclusive count-bin range (the Hayashi criterion).
        freeze_batchnorm: keep BatchNorm frozen (both papers' recipes).

    Batches carry ``image``, ``grade`` and ``count`` (-1 where a row has no count: its count term is masked).
    """

    name = "acne"

    def __init__(
        self, model: nn.Module, loss: nn.Module, ranges: Sequence[Sequence[int]], freeze_batchnorm: bool = False
    ) -> None:
        super().__init__(model, loss, freeze_batchnorm)
        self.ranges = [tuple(r) for r in ranges]

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        grade_logits, count_logits = self.model(batch["image"])
        out = {"grade_logits": grade_logits, "count_logits": count_logits}
        if "grade" in batch:
            out.update(self.loss(grade_logits, count_logits, batch["count"], batch["grade"]))
        return out

    def make_metrics(self) -> MetricCollection:
        grades = len(self.ranges)
        return MetricCollection({
            "grade_acc": MulticlassAccuracy(grades, average="micro"),
            "grade_kappa": MulticlassCohenKappa(grades, weights="quadratic"),
            "count_mae": MeanAbsoluteError(),
        })  # fmt: skip

    def update_metrics(self, metrics: MetricCollection, output: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        count_proba = output["count_logits"].float().softmax(-1)
        from_count = group_sum(count_proba, self.ranges)
        grade_proba = output["grade_logits"].float().softmax(-1)
        if grade_proba.shape[1] != len(self.ranges):  # LDS: 13 blocks summed into grades
            from_head = group_sum(grade_proba, _block_grades(grade_proba.shape[1], count_proba.shape[1], self.ranges))
        else:
            from_head = grade_proba
        grade = (from_head + from_count).argmax(-1)
        metrics["grade_acc"].update(grade, batch["grade"])
        metrics["grade_kappa"].update(grade, batch["grade"])
        known = batch["count"] >= 0
        metrics["count_mae"].update((count_proba.argmax(-1) + 1)[known].float(), batch["count"][known].float())


def _block_grades(blocks: int, bins: int, ranges: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Per grade, its range of grading-head blocks (blocks of equal size tiling the count bins)."""
    size = -(-bins // blocks)
    owner = [next(g for g, (lo, hi) in enumerate(ranges) if lo <= b * size <= hi) for b in range(blocks)]
    return [(owner.index(g), len(owner) - 1 - owner[::-1].index(g)) for g in range(len(ranges))]
