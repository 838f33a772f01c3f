"""Building a distillation task's trainable module from its options: student, teacher, taps, loss, heads.

Every bad input (no teacher, a file that is not a dermkit model, other classes, an unknown feature stage, no stage-1
head for SSD-KD) is a one-line :class:`~dermkit.errors.ConfigError` raised here, before any training starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dermkit.config import LossConfig
from dermkit.data.preprocess import Preprocess
from dermkit.errors import ConfigError
from dermkit.losses.distill import DKDLoss, class_weights_from_counts
from dermkit.losses.relational import ConvRegressor
from dermkit.losses.rotations import ProjectionHead
from dermkit.losses.ssdkd import SSDKDLoss
from dermkit.models import create_model
from dermkit.models.features import POOLED
from dermkit.tasks.base import Built, config_error, network_options
from dermkit.tasks.distill import StageOptions
from dermkit.tasks.distill_teacher import (
    HEAD_TASK,
    FrozenTeacher,
    TeacherView,
    check_taps,
    check_teacher,
    check_teacher_head,
    feature_shapes,
    load_teacher,
    load_teacher_head,
)
from dermkit.tasks.distill_training import KD_PARTS, DKDTask, SSDKDTask, Taps, TeacherHeadTask, TeacherWithHead

if TYPE_CHECKING:  # pragma: no cover
    from dermkit.config import RunConfig
    from dermkit.models.spec import ModelSpec

log = logging.getLogger("dermkit")


def _check_loss_section(config: RunConfig, name: str) -> None:
    if config.loss != LossConfig():
        raise ConfigError(
            f"loss: task '{name}' builds its own loss from task.* (ce_weight, kd_weight, temperature, "
            "weighted_ce...); remove the loss section"
        )


def build_distillation(
    name: str, options: Any, config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]
) -> Built:
    """Build the trainable module of distillation task ``name`` (``distill_kd``, ``distill_dkd``, ``distill_ssdkd``,
    ``ssdkd_teacher_head``) from its checked options; every bad input is a one-line ConfigError before training.

    The student is built first (from the same seed it starts as the ``classify`` task's network would), then the
    teacher is loaded, checked against the data's classes, frozen and given its view of the student's batch.
    """
    _check_loss_section(config, name)
    check_teacher(options.teacher, class_names)  # before the student, whose pretrained weights may be fetched
    if name == "distill_ssdkd" and options.ss_weight:
        check_teacher_head(options.teacher_head)
    if name == HEAD_TASK:  # stage 1: the network is the teacher with a new projection head
        teacher_model, spec = load_teacher(options.teacher)
        view = _view(config, spec)
        width = feature_shapes(teacher_model, [POOLED], view.size)[POOLED][0]
        network = TeacherWithHead(FrozenTeacher(teacher_model, view, spec.output), ProjectionHead(width))
        return Built(TeacherHeadTask(network), spec.architecture.model_dump())
    train_options, architecture = network_options(config.model, len(class_names))
    student = config_error("model", lambda: create_model(**train_options))
    teacher_model, spec = load_teacher(options.teacher)
    view = _view(config, spec)
    weights = class_weights_from_counts(class_counts) if options.weighted_ce else None
    fields = options.model_dump(exclude={"name", "teacher", "teacher_head", "weighted_ce", *StageOptions.model_fields})
    common = {"num_classes": len(class_names), "freeze_batchnorm": config.model.freeze_batchnorm}
    if name == "distill_kd":
        loss = config_error("task", lambda: DKDLoss(weights, **fields, rkd_weight=0.0, channel_weight=0.0))
        teacher = FrozenTeacher(teacher_model, view, spec.output)
        return Built(DKDTask(student, loss, teacher, parts=KD_PARTS, **common), architecture)
    taps = Taps(options.student_map, options.student_pooled, options.teacher_map, options.teacher_pooled)
    t, s = _check_taps(taps, teacher_model, view.size, student, config.data.image_size)
    relational = options.relational_weight if name == "distill_ssdkd" else 1.0
    if options.channel_weight and relational:
        common["regressor"] = ConvRegressor(s["task.student_map"][0], t["task.teacher_map"][0])
    if name == "distill_dkd":
        loss = config_error("task", lambda: DKDLoss(weights, **fields))
        teacher = FrozenTeacher(teacher_model, view, spec.output)
        return Built(DKDTask(student, loss, teacher, taps=taps, **common), architecture)
    loss = config_error("task", lambda: SSDKDLoss(weights, **fields))
    teacher_head = student_head = None
    if options.ss_weight:
        teacher_head = load_teacher_head(options.teacher_head, teacher_model, t[POOLED][0])
        student_head = ProjectionHead(s[POOLED][0])
    teacher = FrozenTeacher(teacher_model, view, spec.output, teacher_head)
    return Built(SSDKDTask(student, loss, teacher, taps=taps, student_head=student_head, **common), architecture)


def _check_taps(
    taps: Taps, teacher: Any, teacher_size: int, student: Any, student_size: int
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """The teacher's and the student's feature shapes by option key (and ``avg_pool``), the stage names checked."""
    t = {"task.teacher_map": taps.teacher_map, "task.teacher_pooled": taps.teacher_pooled, POOLED: POOLED}
    s = {"task.student_map": taps.student_map, "task.student_pooled": taps.student_pooled, POOLED: POOLED}
    return check_taps(teacher, t, teacher_size), check_taps(student, s, student_size)


def _view(config: RunConfig, spec: ModelSpec) -> TeacherView:
    """The teacher's view of the student's batch (see :mod:`dermkit.tasks.distill_teacher`), logged."""
    d = config.data
    teacher = Preprocess.from_dict(spec.preprocessing).to_dict()  # defaults for keys an older model.json lacks
    view = TeacherView({"image_size": d.image_size, "mean": d.mean, "std": d.std}, teacher)
    if d.image_size == view.size and not view.renormalise:
        log.info("teacher view: the student's batch as it is (same size and normalisation)")
    else:
        how = " and renormalised" if view.renormalise else ""
        log.info("teacher view: the student's augmented batch resized %d -> %d px%s", d.image_size, view.size, how)
    return view
