"""Knowledge distillation as tasks: a frozen teacher model teaches a student classifier.

Methods (Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin lesion
classification using dermoscopic images", Medical Image Analysis 84:102693, 2023; METHODS.md section 4):

- ``distill_kd``: vanilla KD (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS Deep
  Learning Workshop 2015): ``(1 - lambda) CE_w + lambda T^2 KL``, lambda 0.5, T 5.
- ``distill_dkd``: D-KD, KD plus relational distance (25) and angle (50) terms on pooled features (Park et al.,
  "Relational Knowledge Distillation", CVPR 2019) and the channel-relation term (1000) on Gram matrices of the last
  maps after a 1x1 conv-BN-ReLU regressor.
- ``ssdkd_teacher_head``: SSD-KD stage 1, the teacher's self-supervised projection head trained on four rotated
  views while the teacher stays frozen.
- ``distill_ssdkd``: SSD-KD stage 2, the five-term student loss on the four rotated views.

The student is a classifier: post-processing, predictions, CSV columns and evaluation are those of
:class:`~dermkit.tasks.classify.Classify`. This module imports neither torch nor timm; the trainable modules are in
:mod:`dermkit.tasks.distill_training`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from dermkit.tasks.base import Built, TaskOptions, register_task
from dermkit.tasks.classify import Classify

if TYPE_CHECKING:  # pragma: no cover
    from dermkit.config import RunConfig


class TeacherOptions(TaskOptions):
    """The teacher: a dermkit model folder (``dermkit train`` output), required before training starts.

    Attributes:
        teacher: path of the teacher's model folder (or its ``model.json``); loaded with the safe loader, frozen.
        weighted_ce: weigh the student's cross-entropy by ``w_c = round(N / N_c, 3)`` (training counts).
    """

    teacher: str | None = None
    weighted_ce: bool = True


class KDOptions(TeacherOptions):
    """Vanilla KD: ``ce_weight * CE_w + kd_weight * T^2 KL``; ``ce_weight`` None means ``1 - kd_weight``."""

    kd_weight: float = Field(0.5, ge=0.0)
    ce_weight: float | None = Field(None, ge=0.0)
    temperature: float = Field(5.0, gt=0.0)


class StageOptions(TaskOptions):
    """Which named features (:func:`dermkit.models.features.feature_stages`) the relational terms compare.

    Attributes:
        teacher_map, student_map: feature maps (N, C, H, W) of the channel-relation term (the D-KD paper's
            ``feats_7x7``: ``last_map``); the student's is regressed to the teacher's channels.
        teacher_pooled, student_pooled: vectors of the RKD distance and angle terms (``avg_pool``).
    """

    teacher_map: str = "last_map"
    teacher_pooled: str = "avg_pool"
    student_map: str = "last_map"
    student_pooled: str = "avg_pool"


class RelationalOptions(StageOptions):
    """The relational part ``rkd_weight (dist_weight L_dist + angle_weight L_angle) + channel_weight L_cr``."""

    rkd_weight: float = Field(1.0, ge=0.0)
    dist_weight: float = Field(25.0, ge=0.0)
    angle_weight: float = Field(50.0, ge=0.0)
    channel_weight: float = Field(1000.0, ge=0.0)


class DKDOptions(KDOptions, RelationalOptions):
    """D-KD: KD plus the relational terms (paper values: lambda 0.5, T 5, 1, 25, 50, 1000)."""


class SSDKDOptions(TeacherOptions, RelationalOptions):
    """SSD-KD stage 2: ``0.1 CE_w + 0.9 KD + 2.7 KD_rot + 10 KD_ss + 1 L_rel`` (T 4, similarity T 0.5).

    Attributes:
        teacher_head: the stage-1 run folder (``ssdkd_teacher_head``) holding the teacher's projection head;
            needed when ``ss_weight`` > 0.
        ratio_tf, ratio_ss: share of the views the teacher gets wrong kept for ``loss_kd_rot`` and ``loss_ss``.
    """

    teacher_head: str | None = None
    ce_weight: float = Field(0.1, ge=0.0)
    kd_weight: float = Field(0.9, ge=0.0)
    rotation_kd_weight: float = Field(2.7, ge=0.0)
    ss_weight: float = Field(10.0, ge=0.0)
    relational_weight: float = Field(1.0, ge=0.0)
    temperature: float = Field(4.0, gt=0.0)
    ss_temperature: float = Field(0.5, gt=0.0)
    ratio_tf: float = Field(1.0, ge=0.0, le=1.0)
    ratio_ss: float = Field(0.75, ge=0.0, le=1.0)


class TeacherHeadOptions(TaskOptions):
    """SSD-KD stage 1: the teacher (required) whose pooled features (``avg_pool``) feed the projection head."""

    teacher: str | None = None


class _Distill(Classify):
    """A student classifier taught by a frozen teacher; inference is plain classification."""

    def build(self, config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]) -> Built:
        from dermkit.tasks.distill_build import build_distillation

        return build_distillation(self.name, self.parse_options(config.task), config, class_names, class_counts)


@register_task
class DistillKD(_Distill):
    """Vanilla knowledge distillation (Hinton et al. 2015) into a student classifier."""

    name = "distill_kd"
    options = KDOptions


@register_task
class DistillDKD(_Distill):
    """D-KD (Wang et al., Medical Image Analysis 2023): KD plus relational and channel-relation terms."""

    name = "distill_dkd"
    options = DKDOptions


@register_task
class DistillSSDKD(_Distill):
    """SSD-KD stage 2 (Wang et al., Medical Image Analysis 2023): D-KD plus rotated-view self-supervised terms."""

    name = "distill_ssdkd"
    options = SSDKDOptions


@register_task
class SSDKDTeacherHead(_Distill):
    """SSD-KD stage 1 (Wang et al., Medical Image Analysis 2023): the frozen teacher's projection head.

    The exported network is the teacher with its head (``teacher.*`` and ``ss_head.*`` tensors): its output is the
    teacher's logits, so it is validated as the teacher; stage 2 (``task.teacher_head``) reads the head from it.
    """

    name = "ssdkd_teacher_head"
    options = TeacherHeadOptions
    calibratable = False

    def headline(self) -> list[str]:
        return []
