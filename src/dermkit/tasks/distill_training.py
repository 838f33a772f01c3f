"""The trainable distillation tasks: a student classifier, a frozen teacher, and the KD / D-KD / SSD-KD losses.

Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin lesion
classification using dermoscopic images", Medical Image Analysis 84:102693, 2023; Hinton, Vinyals, Dean,
"Distilling the Knowledge in a Neural Network", NIPS Deep Learning Workshop 2015.

``model`` is the student alone: the engine exports ``model`` (``model.safetensors``), so the teacher, the regressor
and the projection heads never reach the student's artefact. The teacher is frozen (no gradients, never in the
optimiser's groups) and stays in eval mode. Validation judges the student as a classifier: ``val/loss`` is its
class-weighted cross-entropy (SSD-KD's model-selection loss), the distillation terms are training-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from dermkit.losses.distill import DKD_PARTS, dkd_loss
from dermkit.losses.functional import cross_entropy
from dermkit.losses.rotations import SSContrastiveLoss, rotation_similarity, rotation_views, split_views, view_sources
from dermkit.losses.ssdkd import SSDKD_PARTS
from dermkit.models.features import LOGITS, POOLED, extract_features
from dermkit.tasks.classify_training import ClassifyTask, probabilities
from dermkit.tasks.distill_teacher import FrozenTeacher
from dermkit.tasks.training import TrainingTask

KD_PARTS = ("loss", "loss_ce", "loss_kd")


@dataclass(frozen=True)
class Taps:
    """The named features the relational terms compare (see :class:`dermkit.tasks.distill.StageOptions`)."""

    student_map: str = "last_map"
    student_pooled: str = "avg_pool"
    teacher_map: str = "last_map"
    teacher_pooled: str = "avg_pool"

    @property
    def student(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.student_map, self.student_pooled, POOLED, LOGITS)))

    @property
    def teacher(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.teacher_map, self.teacher_pooled, LOGITS)))


class StudentTask(ClassifyTask):
    """A student classifier (``model``, exported) taught by a frozen teacher (never exported nor optimised).

    Args:
        model: the student; maps images (N, 3, H, W) to logits (N, C).
        loss: the distillation loss module; its ``class_weights`` buffer weighs the cross-entropy.
        teacher: the frozen teacher.
        num_classes: C.
        taps: the features the relational terms compare.
        regressor: the 1x1 conv-BN-ReLU from the student's map to the teacher's channels (None: no channel term).
        freeze_batchnorm: keep the student's BatchNorm layers frozen.
    """

    name = "distill"

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        teacher: FrozenTeacher,
        num_classes: int,
        taps: Taps = Taps(),
        regressor: nn.Module | None = None,
        freeze_batchnorm: bool = False,
    ) -> None:
        super().__init__(model, loss, num_classes, freeze_batchnorm)
        self.teacher = teacher
        self.taps = taps
        self.regressor = regressor

    def param_groups(self, lr: float, head_lr_mult: float = 1.0) -> list[dict[str, Any]]:
        """The student's (and regressor's, heads') parameters; never the teacher's."""
        frozen = {id(parameter) for parameter in self.teacher.parameters()}
        groups = super().param_groups(lr, head_lr_mult)
        groups = [{**group, "params": [p for p in group["params"] if id(p) not in frozen]} for group in groups]
        return [group for group in groups if group["params"]]

    def student_only(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The student as a classifier; its loss is the class-weighted cross-entropy (validation, prediction)."""
        logits = self.model(batch["image"])
        out = {"logits": logits, "probs": probabilities(logits, "softmax")}
        if "target" in batch:
            out["loss"] = cross_entropy(logits, batch["target"], weight=self.loss.class_weights)
        return out

    def regress(self, student_map: torch.Tensor) -> torch.Tensor:
        return self.regressor(student_map) if self.regressor is not None else student_map


class DKDTask(StudentTask):
    """KD and D-KD: ``forward`` returns ``{"loss", "loss_ce", "loss_kd"[, "loss_dist", "loss_angle", "loss_cr"]}``
    (``parts``) with the student's ``logits`` and ``probs``; the loss is :class:`dermkit.losses.distill.DKDLoss`."""

    def __init__(self, *args: Any, parts: tuple[str, ...] = DKD_PARTS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parts = parts

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if not (self.training and "target" in batch):
            return self.student_only(batch)
        images, taps = batch["image"], self.taps
        s = extract_features(self.model, images, taps.student)
        t = self.teacher(images, taps.teacher)
        terms = self.loss(
            s[LOGITS],
            t[LOGITS],
            batch["target"],
            s[taps.student_pooled],
            t[taps.teacher_pooled],
            self.regress(s[taps.student_map]),
            t[taps.teacher_map],
        )
        return {"logits": s[LOGITS], "probs": probabilities(s[LOGITS], "softmax"), **{k: terms[k] for k in self.parts}}


class SSDKDTask(StudentTask):
    """SSD-KD stage 2 on the four rotations of each image (:func:`dermkit.losses.rotations.rotation_views`).

    Args:
        student_head: the student's projection head on ``avg_pool`` (None when ``ss_weight`` is 0).
        *args, **kwargs: as :class:`StudentTask`; the teacher carries its stage-1 head when ``ss_weight`` > 0.

    When no term looks at rotated views (``rotation_kd_weight``, ``ss_weight`` and ``relational_weight`` all 0),
    only the images as they are go through the networks, so the batch statistics are those of plain training.
    """

    def __init__(self, *args: Any, student_head: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.student_head = student_head
        s = self.loss.settings
        self.rotations = bool(s["rotation_kd_weight"] or s["ss_weight"] or s["relational_weight"])

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if not (self.training and "target" in batch):
            return self.student_only(batch)
        images, target, taps = batch["image"], batch["target"], self.taps
        if not self.rotations:
            return self._unrotated(images, target)
        views = rotation_views(images)
        s = extract_features(self.model, views, taps.student)
        t = self.teacher(views, taps.teacher)
        s_emb = self.student_head(s[POOLED]) if self.student_head is not None else s[POOLED]
        terms = self.loss(
            s[LOGITS],
            t[LOGITS],
            target,
            s_emb,
            t.get("embedding", s_emb),
            s[taps.student_pooled],
            t[taps.teacher_pooled],
            self.regress(s[taps.student_map]),
            t[taps.teacher_map],
        )
        logits = s[LOGITS][: len(target)]
        return {"logits": logits, "probs": probabilities(logits, "softmax"), **terms}

    def _unrotated(self, images: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.model(images)
        teacher = self.teacher(images, (LOGITS,))[LOGITS]
        s = self.loss.settings
        # dkd_loss with no relational weight is ce_weight * CE + kd_weight * KD; the feature arguments are unused
        terms = dkd_loss(
            logits,
            teacher,
            target,
            logits,
            teacher,
            logits,
            teacher,
            class_weights=self.loss.class_weights,
            kd_weight=s["kd_weight"],
            ce_weight=s["ce_weight"],
            temperature=s["temperature"],
            rkd_weight=0.0,
            channel_weight=0.0,
        )
        zero = terms["loss"].new_zeros(())
        parts = {key: terms.get(key, zero) for key in SSDKD_PARTS}
        return {"logits": logits, "probs": probabilities(logits, "softmax"), **parts}


class TeacherWithHead(nn.Module):
    """SSD-KD stage 1's network: the frozen teacher and its projection head; ``forward`` is the teacher's logits, so
    the stage-1 run is validated and exported as the teacher (``teacher.model.*``) plus ``ss_head.*``."""

    def __init__(self, teacher: FrozenTeacher, head: nn.Module) -> None:
        super().__init__()
        self.teacher = teacher
        self.ss_head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher(x, (LOGITS,))[LOGITS]


class TeacherHeadTask(TrainingTask):
    """SSD-KD stage 1: each rotated view's embedding must pick its own image among the batch's unrotated ones
    (:func:`dermkit.losses.rotations.ss_contrastive_loss`); only the head trains. ``val/ss_acc``: share picked right."""

    name = "ssdkd_teacher_head"
    output = "softmax"

    def __init__(self, model: TeacherWithHead) -> None:
        super().__init__(model, SSContrastiveLoss())

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        images = batch["image"]
        pooled = self.model.teacher(rotation_views(images), (POOLED,))[POOLED]
        plain, rotated = split_views(self.model.ss_head(pooled))
        with torch.no_grad():
            picked = rotation_similarity(rotated, plain).argmax(dim=1)
            correct = (picked == view_sources(len(images))[len(images) :].to(picked.device)).float()
        return {"loss": self.loss(rotated, plain), "ss_correct": correct}

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"ss_acc": MeanMetric()})

    def update_metrics(self, metrics: MetricCollection, output: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        metrics["ss_acc"].update(output["ss_correct"])
