"""Relational distillation terms: RKD distance and angle on pooled features, and D-KD's channel relation on maps.

References:
    - Park, Kim, Lu, Cho, "Relational Knowledge Distillation", CVPR 2019.
    - Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin lesion
      classification using dermoscopic images", Medical Image Analysis 84:102693, 2023 (the channel relation).

Each term is a pure function of tensors; the teacher's side is detached inside it, so gradients reach the student
only. :func:`dermkit.losses.distill.dkd_loss` and :func:`dermkit.losses.ssdkd.ssdkd_loss` weigh them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses.functional import check_rows


def _relation_gap(
    name: str, relation: Callable[[torch.Tensor], torch.Tensor], student: torch.Tensor, teacher: torch.Tensor
) -> torch.Tensor:
    """Smooth-L1 (beta 1, mean) between ``relation`` of the student's and of the (detached) teacher's features."""
    check_rows(name, student, teacher)
    with torch.no_grad():
        target = relation(teacher.detach().flatten(1))
    return F.smooth_l1_loss(relation(student.flatten(1)), target)


def _normalised_distances(feats: torch.Tensor) -> torch.Tensor:
    # exact differences (no ||a||^2 + ||b||^2 - 2ab shortcut): identical inputs give exactly equal matrices
    distances = torch.cdist(feats, feats, compute_mode="donot_use_mm_for_euclid_dist")
    positive = distances[distances > 0]
    return distances / positive.mean() if positive.numel() else distances


def rkd_distance(student_feats: torch.Tensor, teacher_feats: torch.Tensor) -> torch.Tensor:
    """RKD distance term (Park et al., "Relational Knowledge Distillation", CVPR 2019), as D-KD uses it.

    Pairwise Euclidean distances within the batch, each matrix divided by the mean of its positive off-diagonal
    entries (scale-free), compared with Smooth-L1 (beta 1, mean over the N x N entries). Student and teacher widths
    may differ. A batch whose points all coincide keeps its zero matrix.

    Shape:
        student_feats (N, D_s), teacher_feats (N, D_t); output ().
    """
    return _relation_gap("rkd_distance", _normalised_distances, student_feats, teacher_feats)


def _angles(feats: torch.Tensor) -> torch.Tensor:
    # directions[j, i] = unit vector from e_j to e_i (zero for i == j); angles[j, i, k] = cos of angle i-j-k
    directions = F.normalize(feats.unsqueeze(0) - feats.unsqueeze(1), p=2, dim=2)
    return torch.bmm(directions, directions.transpose(1, 2))


def rkd_angle(student_feats: torch.Tensor, teacher_feats: torch.Tensor) -> torch.Tensor:
    """RKD angle term (Park et al., "Relational Knowledge Distillation", CVPR 2019), as D-KD uses it.

    For every triplet (i, j, k) of the batch, the cosine of the angle at ``e_j`` between the normalised difference
    vectors ``e_i - e_j`` and ``e_k - e_j`` (0 when i == j or k == j); Smooth-L1 (beta 1) between the student's and
    the teacher's N x N x N tensors, averaged over all N^3 entries.

    Shape:
        student_feats (N, D_s), teacher_feats (N, D_t); output ().
    """
    return _relation_gap("rkd_angle", _angles, student_feats, teacher_feats)


def gram_matrix(feature_map: torch.Tensor) -> torch.Tensor:
    """Channel Gram matrix ``G = F F^T / (C H W)`` with ``F`` the map flattened to (C, H W) per image.

    Shape:
        feature_map (N, C, H, W); output (N, C, C).
    """
    n, c, h, w = feature_map.shape
    flat = feature_map.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def channel_relation(student_map_regressed: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
    """Channel-relation term of D-KD (Wang et al., Medical Image Analysis 84:102693, 2023): ``sqrt(MSE(G_s, G_t))``.

    ``G`` is :func:`gram_matrix` of the regressed student map (see :class:`ConvRegressor`) and of the teacher's map.

    Shape:
        student_map_regressed (N, C, H_s, W_s), teacher_map (N, C, H_t, W_t): same N and C; output ().
    """
    if (
        student_map_regressed.ndim != 4
        or teacher_map.ndim != 4
        or student_map_regressed.shape[:2] != teacher_map.shape[:2]
    ):
        raise ValueError(
            f"channel_relation: maps {tuple(student_map_regressed.shape)} and {tuple(teacher_map.shape)} must be "
            "(N, C, H, W) with the same N and C (regress the student map to the teacher's channels first)"
        )
    mse = F.mse_loss(gram_matrix(student_map_regressed), gram_matrix(teacher_map.detach()))
    # the square root's slope is infinite at 0: clamping gives a student equal to its teacher zero gradient, not NaN
    return mse.clamp_min(torch.finfo(mse.dtype).tiny).sqrt()


class ConvRegressor(nn.Module):
    """1x1 conv + BatchNorm + ReLU mapping the student's last map to the teacher's channels (D-KD, Wang et al. 2023).

    Shape:
        x (N, in_channels, H, W); output (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def relational_terms(
    student_pooled: torch.Tensor,
    teacher_pooled: torch.Tensor,
    student_map: torch.Tensor,
    teacher_map: torch.Tensor,
    *,
    rkd_weight: float,
    dist_weight: float,
    angle_weight: float,
    channel_weight: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``rkd_weight * (dist_weight * L_dist + angle_weight * L_angle) + channel_weight * L_cr`` and the three terms.

    A term whose total weight is 0 is not computed (its part is 0), so its inputs are not looked at.

    Returns:
        The weighted sum, and ``{"loss_dist", "loss_angle", "loss_cr"}`` (unweighted terms).
    """
    zero = student_pooled.new_zeros(())
    parts = {
        "loss_dist": rkd_distance(student_pooled, teacher_pooled) if rkd_weight * dist_weight else zero,
        "loss_angle": rkd_angle(student_pooled, teacher_pooled) if rkd_weight * angle_weight else zero,
        "loss_cr": channel_relation(student_map, teacher_map) if channel_weight else zero,
    }
    rkd = dist_weight * parts["loss_dist"] + angle_weight * parts["loss_angle"]
    return rkd_weight * rkd + channel_weight * parts["loss_cr"], parts
