"""Knowledge-distillation losses of D-KD: vanilla KD plus the relational terms of
:mod:`dermkit.losses.relational` (RKD distance and angle, channel relation), and their weighted sum.

References:
    - Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS Deep Learning Workshop, 2015.
    - Park, Kim, Lu, Cho, "Relational Knowledge Distillation", CVPR 2019.
    - Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin lesion
      classification using dermoscopic images", Medical Image Analysis 84:102693, 2023 (D-KD and SSD-KD).

Every term is a pure function of tensors; the teacher's side is detached inside each (the teacher is frozen), so
gradients reach the student only. The self-supervised SSD-KD terms live in :mod:`dermkit.losses.ssdkd`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses.functional import check_reduction, check_temperature, check_weights, cross_entropy
from dermkit.losses.relational import relational_terms

DKD_PARTS = ("loss", "loss_ce", "loss_kd", "loss_dist", "loss_angle", "loss_cr")


def class_weights_from_counts(counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Class weights ``round(N_total / N_c, 3)`` of the D-KD recipe (Wang et al., MedIA 2023); absent classes get 0.

    ``C`` times scikit-learn's "balanced" weights (:func:`dermkit.losses.functional.balanced_class_weights`), rounded
    to 3 decimals as the original code does.

    Shape:
        counts (C,); output (C,) float32.
    """
    counts64 = torch.as_tensor(counts, dtype=torch.float64)
    if counts64.ndim != 1 or (counts64 < 0).any() or counts64.sum() <= 0:
        raise ValueError(f"class counts must be non-negative with a positive total, got {counts64.tolist()}")
    weights = torch.where(counts64 > 0, counts64.sum() / counts64.clamp_min(1), torch.zeros_like(counts64))
    return weights.round(decimals=3).float()


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 5.0, reduction: str = "mean"
) -> torch.Tensor:
    """Vanilla KD: ``T^2 * KL(softmax(z_t / T) || softmax(z_s / T))`` (Hinton, Vinyals, Dean, 2015).

    Args:
        student_logits: the student's scores.
        teacher_logits: the teacher's scores (detached).
        temperature: softening temperature ``T`` > 0; the ``T^2`` factor keeps gradient sizes comparable across T.
        reduction: ``mean`` (KL summed over classes, averaged over rows: PyTorch's ``batchmean``), ``sum`` or
            ``none`` (one value per row).

    Shape:
        student_logits and teacher_logits (N, C); output () or (N,) for ``none``.
    """
    check_reduction(reduction)
    check_temperature("kd_loss", temperature)
    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
        raise ValueError(
            f"kd_loss: student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} must both be (N, C) of the same shape"
        )
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    per_row = F.kl_div(log_p_student, log_p_teacher, reduction="none", log_target=True).sum(dim=1)
    per_row = per_row * temperature**2
    if reduction == "none":
        return per_row
    return per_row.sum() if reduction == "sum" else per_row.mean()


def dkd_weights(
    *, kd_weight: float, ce_weight: float | None, temperature: float, **relational: float
) -> dict[str, float]:
    """The D-KD weights checked (all >= 0, temperature > 0), with ``ce_weight=None`` resolved to ``1 - kd_weight``."""
    weights = {"kd_weight": kd_weight, "ce_weight": 1.0 - kd_weight if ce_weight is None else ce_weight, **relational}
    check_temperature("dkd_loss", temperature)
    check_weights("dkd_loss", **weights)
    return {**weights, "temperature": temperature}


def dkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    student_pooled: torch.Tensor,
    teacher_pooled: torch.Tensor,
    student_map: torch.Tensor,
    teacher_map: torch.Tensor,
    *,
    class_weights: torch.Tensor | None = None,
    kd_weight: float = 0.5,
    ce_weight: float | None = None,
    temperature: float = 5.0,
    rkd_weight: float = 1.0,
    dist_weight: float = 25.0,
    angle_weight: float = 50.0,
    channel_weight: float = 1000.0,
) -> dict[str, torch.Tensor]:
    """D-KD loss (Wang et al., "SSD-KD: ...", Medical Image Analysis 84:102693, 2023).

    ``L = ce_weight * CE_w + kd_weight * KD_T + rkd_weight * (dist_weight * L_dist + angle_weight * L_angle)
    + channel_weight * L_cr``, with the paper's ``ce_weight = 1 - kd_weight`` (lambda = 0.5, T = 5,
    lambda_drkd = 1, w_dist = 25, w_angle = 50, lambda_crkd = 1000). A term whose weight is 0 is not computed and
    its part is 0; with every weight 0 but ``ce_weight`` 1 (``kd_weight=0`` gives it) the loss is exactly the
    student's class-weighted cross-entropy.

    Args:
        student_logits, teacher_logits: class scores.
        target: class indices.
        student_pooled, teacher_pooled: pooled features (``avg_pool``) for the RKD terms.
        student_map: the student's last map after :class:`ConvRegressor`; teacher_map: the teacher's last map.
        class_weights: per-class CE weights, e.g. :func:`class_weights_from_counts`.
        kd_weight: lambda, weight of :func:`kd_loss`.
        ce_weight: weight of the CE term; ``None`` means ``1 - kd_weight`` as in the paper.
        temperature: KD temperature.
        rkd_weight, dist_weight, angle_weight, channel_weight: the relational weights above.

    Returns:
        ``{"loss", "loss_ce", "loss_kd", "loss_dist", "loss_angle", "loss_cr"}``: the weighted total and the
        unweighted terms (``loss_kd`` includes its ``T^2``).

    Shape:
        logits (N, K), target (N,), pooled (N, D_s) / (N, D_t), maps (N, C_t, H, W); outputs ().
    """
    w = dkd_weights(
        kd_weight=kd_weight,
        ce_weight=ce_weight,
        temperature=temperature,
        rkd_weight=rkd_weight,
        dist_weight=dist_weight,
        angle_weight=angle_weight,
        channel_weight=channel_weight,
    )
    loss_ce = cross_entropy(student_logits, target, weight=class_weights)
    loss_kd = kd_loss(student_logits, teacher_logits, w["temperature"]) if w["kd_weight"] else loss_ce.new_zeros(())
    relational, parts = relational_terms(
        student_pooled,
        teacher_pooled,
        student_map,
        teacher_map,
        rkd_weight=w["rkd_weight"],
        dist_weight=w["dist_weight"],
        angle_weight=w["angle_weight"],
        channel_weight=w["channel_weight"],
    )
    loss = w["ce_weight"] * loss_ce + w["kd_weight"] * loss_kd + relational
    return {"loss": loss, "loss_ce": loss_ce, "loss_kd": loss_kd, **parts}


class DKDLoss(nn.Module):
    """Module form of :func:`dkd_loss` (Wang et al., Medical Image Analysis 84:102693, 2023).

    ``class_weights`` is a buffer (it follows ``.to(device)``); the weights are checked when the module is built.
    The :class:`ConvRegressor` is trained with the student and belongs to the task, not to this loss.
    """

    def __init__(
        self,
        class_weights: torch.Tensor | Sequence[float] | None = None,
        *,
        kd_weight: float = 0.5,
        ce_weight: float | None = None,
        temperature: float = 5.0,
        rkd_weight: float = 1.0,
        dist_weight: float = 25.0,
        angle_weight: float = 50.0,
        channel_weight: float = 1000.0,
    ) -> None:
        super().__init__()
        self.weights = dkd_weights(
            kd_weight=kd_weight,
            ce_weight=ce_weight,
            temperature=temperature,
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
        student_pooled: torch.Tensor,
        teacher_pooled: torch.Tensor,
        student_map: torch.Tensor,
        teacher_map: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        return dkd_loss(
            student_logits,
            teacher_logits,
            target,
            student_pooled,
            teacher_pooled,
            student_map,
            teacher_map,
            class_weights=self.class_weights,
            **self.weights,
        )
