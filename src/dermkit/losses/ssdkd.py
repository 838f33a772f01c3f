"""SSD-KD: D-KD plus self-supervised rotation knowledge (Wang et al., "SSD-KD: A self-supervised diverse knowledge
distillation method for lightweight skin lesion classification using dermoscopic images", Medical Image Analysis
84:102693, 2023).

Each image of a batch of N gives four views, turned 0, 90, 180 and 270 degrees (:mod:`dermkit.losses.rotations`).
Stage 1 trains the teacher's projection head alone with the rotation contrastive loss of that module. Stage 2 trains
the student with the five terms of :func:`ssdkd_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dermkit.losses.distill import kd_loss
from dermkit.losses.functional import check_temperature, check_weights, cross_entropy
from dermkit.losses.relational import relational_terms
from dermkit.losses.rotations import NUM_VIEWS, rotation_similarity, split_views, view_sources

SSDKD_PARTS = ("loss", "loss_ce", "loss_kd", "loss_kd_rot", "loss_ss", "loss_relational")


def rank_errors(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How many entries of each row score strictly above the target's entry (0 = the target is ranked first).

    Shape:
        scores (M, K), target (M,); output (M,) int64.
    """
    return (scores > scores.gather(1, target.long().unsqueeze(1))).sum(dim=1)


def keep_by_rank(scores: torch.Tensor, target: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """SSD-KD's view selection: rows ranking the target first, plus ``floor(keep_ratio * wrong)`` of the others.

    The kept wrong rows are those with the smallest :func:`rank_errors` (ties: the earlier row), as in Wang et al.
    (Medical Image Analysis 84:102693, 2023). A score tied with the target's counts in the target's favour (the
    original code breaks such ties by sort order).

    Returns:
        Indices of the kept rows, ascending (int64).
    """
    if not 0.0 <= keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio must be in [0, 1], got {keep_ratio}")
    errors = rank_errors(scores, target)
    wrong = int((errors > 0).sum())
    keep = len(errors) - wrong + int(wrong * keep_ratio)
    return torch.sort(errors, stable=True).indices[:keep].sort().values


def _selected_kd(
    student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, ratio: float, temperature: float
) -> torch.Tensor:
    keep = keep_by_rank(teacher.detach(), target, ratio)
    if not len(keep):  # nothing to distil from: no term rather than the NaN of an empty mean
        return student.new_zeros(())
    return kd_loss(student[keep], teacher[keep], temperature)


def ssdkd_weights(
    *, temperature: float, ss_temperature: float, ratio_tf: float, ratio_ss: float, **weights: float
) -> dict[str, float]:
    """The SSD-KD settings, checked: weights >= 0, temperatures > 0, ratios in [0, 1]."""
    check_temperature("ssdkd_loss", temperature)
    check_temperature("ssdkd_loss ss_temperature", ss_temperature)
    check_weights("ssdkd_loss", **weights)
    for name, ratio in {"ratio_tf": ratio_tf, "ratio_ss": ratio_ss}.items():
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ssdkd_loss: {name} must be in [0, 1], got {ratio}")
    return {
        **weights,
        "temperature": temperature,
        "ss_temperature": ss_temperature,
        "ratio_tf": ratio_tf,
        "ratio_ss": ratio_ss,
    }


def _check_views(n: int, **tensors: torch.Tensor) -> None:
    for name, tensor in tensors.items():
        if tensor.shape[0] != NUM_VIEWS * n:
            raise ValueError(
                f"ssdkd_loss: {name} has {tensor.shape[0]} rows; expected 4 views x {n} images = {NUM_VIEWS * n} "
                "(rotation_views order)"
            )


def ssdkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    student_embedding: torch.Tensor,
    teacher_embedding: torch.Tensor,
    student_pooled: torch.Tensor,
    teacher_pooled: torch.Tensor,
    student_map: torch.Tensor,
    teacher_map: torch.Tensor,
    *,
    class_weights: torch.Tensor | None = None,
    ce_weight: float = 0.1,
    kd_weight: float = 0.9,
    rotation_kd_weight: float = 2.7,
    ss_weight: float = 10.0,
    relational_weight: float = 1.0,
    temperature: float = 4.0,
    ss_temperature: float = 0.5,
    ratio_tf: float = 1.0,
    ratio_ss: float = 0.75,
    rkd_weight: float = 1.0,
    dist_weight: float = 25.0,
    angle_weight: float = 50.0,
    channel_weight: float = 1000.0,
) -> dict[str, torch.Tensor]:
    """Stage-2 SSD-KD loss (Wang et al., Medical Image Analysis 84:102693, 2023), on the 4N views of N images.

    ``L = 0.1 CE_w + 0.9 KD + 2.7 KD_rot + 10 KD_ss + 1 L_rel``:
    ``loss_ce`` class-weighted CE on the unrotated views; ``loss_kd`` :func:`kd_loss` (T = 4) on them;
    ``loss_kd_rot`` the same KD on the rotated views the teacher classifies correctly plus ``ratio_tf`` of the others
    (:func:`keep_by_rank`); ``loss_ss`` KD (T = ``ss_temperature``) between the teacher's and the student's rows of
    :func:`rotation_similarity`, on views whose source the teacher ranks first plus ``ratio_ss`` of the others;
    ``loss_relational`` D-KD's ``rkd_weight * (dist_weight * L_dist + angle_weight * L_angle) + channel_weight * L_cr``
    (:func:`dermkit.losses.relational.relational_terms`) on all 4N views. A term of weight 0 is not computed (part 0).

    Args:
        student_logits, teacher_logits: class scores of every view.
        target: class index of each image.
        student_embedding, teacher_embedding: :class:`ProjectionHead` outputs of every view.
        student_pooled, teacher_pooled: pooled features of every view.
        student_map: the student's last maps after the ConvRegressor; teacher_map: the teacher's.
        class_weights: per-class CE weights.
        ce_weight, kd_weight, rotation_kd_weight, ss_weight, relational_weight: the five weights.
        temperature: KD temperature of ``loss_kd`` and ``loss_kd_rot``; ss_temperature: of ``loss_ss``.
        ratio_tf, ratio_ss: share of wrongly ranked views kept for ``loss_kd_rot`` and ``loss_ss``.
        rkd_weight, dist_weight, angle_weight, channel_weight: the weights inside ``loss_relational``.

    Returns:
        ``{"loss", "loss_ce", "loss_kd", "loss_kd_rot", "loss_ss", "loss_relational"}``, the parts unweighted.

    Shape:
        logits (4N, K), target (N,), embeddings (4N, d), pooled (4N, D), maps (4N, C_t, H, W); outputs ().
    """
    ssdkd_weights(
        ce_weight=ce_weight,
        kd_weight=kd_weight,
        rotation_kd_weight=rotation_kd_weight,
        ss_weight=ss_weight,
        relational_weight=relational_weight,
        temperature=temperature,
        ss_temperature=ss_temperature,
        ratio_tf=ratio_tf,
        ratio_ss=ratio_ss,
        rkd_weight=rkd_weight,
        dist_weight=dist_weight,
        angle_weight=angle_weight,
        channel_weight=channel_weight,
    )
    n = target.shape[0]
    _check_views(n, student_logits=student_logits, teacher_logits=teacher_logits)
    zero = student_logits.new_zeros(())
    loss_ce = cross_entropy(student_logits[:n], target, weight=class_weights)
    loss_kd = kd_loss(student_logits[:n], teacher_logits[:n], temperature) if kd_weight else zero
    loss_kd_rot = zero
    if rotation_kd_weight:
        rotated_target = target.repeat(NUM_VIEWS - 1)
        loss_kd_rot = _selected_kd(student_logits[n:], teacher_logits[n:], rotated_target, ratio_tf, temperature)
    loss_ss = zero
    if ss_weight:
        _check_views(n, student_embedding=student_embedding, teacher_embedding=teacher_embedding)
        student_sim = rotation_similarity(*reversed(split_views(student_embedding)))
        teacher_sim = rotation_similarity(*reversed(split_views(teacher_embedding.detach())))
        sources = view_sources(n)[n:].to(teacher_sim.device)
        loss_ss = _selected_kd(student_sim, teacher_sim, sources, ratio_ss, ss_temperature)
    loss_relational = zero
    if relational_weight:
        _check_views(n, student_pooled=student_pooled, teacher_pooled=teacher_pooled)
        loss_relational, _ = relational_terms(
            student_pooled,
            teacher_pooled,
            student_map,
            teacher_map,
            rkd_weight=rkd_weight,
            dist_weight=dist_weight,
            angle_weight=angle_weight,
            channel_weight=channel_weight,
        )
    parts = {"loss_ce": loss_ce, "loss_kd": loss_kd, "loss_kd_rot": loss_kd_rot, "loss_ss": loss_ss}
    loss = ce_weight * loss_ce + kd_weight * loss_kd + rotation_kd_weight * loss_kd_rot + ss_weight * loss_ss
    return {"loss": loss + relational_weight * loss_relational, **parts, "loss_relational": loss_relational}


class SSDKDLoss(nn.Module):
    """Module form of :func:`ssdkd_loss` (Wang et al., Medical Image Analysis 84:102693, 2023).

    ``class_weights`` is a buffer; the settings (those of :func:`ssdkd_loss`, the paper's by default) are checked when
    the module is built.
    """

    def __init__(
        self,
        class_weights: torch.Tensor | Sequence[float] | None = None,
        *,
        ce_weight: float = 0.1,
        kd_weight: float = 0.9,
        rotation_kd_weight: float = 2.7,
        ss_weight: float = 10.0,
        relational_weight: float = 1.0,
        temperature: float = 4.0,
        ss_temperature: float = 0.5,
        ratio_tf: float = 1.0,
        ratio_ss: float = 0.75,
        rkd_weight: float = 1.0,
        dist_weight: float = 25.0,
        angle_weight: float = 50.0,
        channel_weight: float = 1000.0,
    ) -> None:
        super().__init__()
        self.settings = ssdkd_weights(
            ce_weight=ce_weight,
            kd_weight=kd_weight,
            rotation_kd_weight=rotation_kd_weight,
            ss_weight=ss_weight,
            relational_weight=relational_weight,
            temperature=temperature,
            ss_temperature=ss_temperature,
            ratio_tf=ratio_tf,
            ratio_ss=ratio_ss,
            rkd_weight=rkd_weight,
            dist_weight=dist_weight,
            angle_weight=angle_weight,
            channel_weight=channel_weight,
        )
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", weight)

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        target: torch.Tensor,
        student_embedding: torch.Tensor,
        teacher_embedding: torch.Tensor,
        student_pooled: torch.Tensor,
        teacher_pooled: torch.Tensor,
        student_map: torch.Tensor,
        teacher_map: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        return ssdkd_loss(
            student_logits,
            teacher_logits,
            target,
            student_embedding,
            teacher_embedding,
            student_pooled,
            teacher_pooled,
            student_map,
            teacher_map,
            class_weights=self.class_weights,
            **self.settings,
        )
