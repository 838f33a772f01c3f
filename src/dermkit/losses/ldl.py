"""Label distribution learning for joint acne grading and lesion counting (LDL) and its smoothed variant (LDS).

LDL: X. Wu et al., "Joint Acne Image Grading and Counting via Label Distribution Learning", ICCV 2019.
LDS: K. Prokhorov and A. A. Kalinin, "Improving Acne Image Grading with Label Distribution Smoothing", ISBI 2024
(arXiv 2403.00268).

A lesion count ``c`` falls in count bin ``clip(c - 1, 0, K - 1)`` (K = 65 in both papers: counts 1..65; a count of 0
shares bin 0, counts above 65 share the last bin). Grades (the Hayashi criterion) and the LDS head's five-count blocks
are lists of inclusive ``(first_bin, last_bin)`` ranges that tile ``0..K-1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses._ldl_targets import (
    Ranges,
    bin_to_count,
    block_ranges,
    check_ranges,
    count_to_bin,
    gaussian_distribution,
    grade_ranges,
    group_sum,
    lds_epsilon,
    nest_ranges,
    smoothed_distribution,
)
from dermkit.losses.functional import check_reduction

__all__ = [
    "LDLLoss",
    "Ranges",
    "bin_to_count",
    "block_ranges",
    "check_ranges",
    "count_to_bin",
    "distribution_kl",
    "gaussian_distribution",
    "grade_ranges",
    "group_sum",
    "ldl_loss",
    "lds_epsilon",
    "nest_ranges",
    "smoothed_distribution",
]


def distribution_kl(
    probs: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    eps: float = 1e-4,
    reduction: str = "mean",
) -> torch.Tensor:
    """Per-row KL divergence ``sum_k q_k (log q_k - log(p_k + eps))`` of predicted from target distributions.

    With ``mask=None`` and ``reduction="mean"`` this equals the papers' ``K * KLDivLoss(log(p + eps), q)`` (PyTorch's
    element mean times the K columns); ``eps`` is the 1e-4 both originals add after the softmax (Wu et al., ICCV 2019;
    Prokhorov & Kalinin, ISBI 2024). ``0 log 0`` is taken as 0.

    Args:
        probs: predicted probabilities p (e.g. a softmax).
        target: target distributions q.
        mask: boolean; rows where it is False contribute 0 and are left out of the mean (all masked: 0, with zero
            gradient).
        eps: added to ``probs`` before the log.
        reduction: ``none`` (per row), ``mean`` (over masked-in rows) or ``sum``.

    Shape:
        probs and target (N, K), mask (N,); output () or (N,) for ``none``.
    """
    check_reduction(reduction)
    if probs.ndim != 2 or target.shape != probs.shape:
        raise ValueError(f"probs and target must be (N, K) alike, got {tuple(probs.shape)} and {tuple(target.shape)}")
    rows = (torch.xlogy(target, target) - torch.xlogy(target, probs + eps)).sum(dim=1)
    if mask is not None:
        if mask.shape != rows.shape:
            raise ValueError(f"mask must be ({rows.shape[0]},), got {tuple(mask.shape)}")
        rows = torch.where(mask.bool(), rows, rows.new_zeros(()))
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    kept = max(rows.shape[0], 1) if mask is None else mask.bool().sum().clamp(min=1)
    return rows.sum() / kept


def _check_weights(lam: float, sigma: float, eps: float) -> None:
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1] (the weight of the grading terms), got {lam}")
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def _reduce(rows: torch.Tensor, reduction: str, kept: torch.Tensor | int) -> torch.Tensor:
    return rows if reduction == "none" else rows.sum() if reduction == "sum" else rows.sum() / kept


def ldl_loss(
    grade_logits: torch.Tensor,
    count_logits: torch.Tensor,
    count: torch.Tensor,
    grade: torch.Tensor,
    *,
    lam: float,
    sigma: float,
    ranges: Ranges,
    head_ranges: Ranges | None = None,
    smoothing_epsilon: torch.Tensor | None = None,
    eps: float = 1e-4,
    reduction: str = "mean",
) -> dict[str, torch.Tensor]:
    """Joint grading + counting loss of LDL (Wu et al., ICCV 2019) and LDS (Prokhorov & Kalinin, ISBI 2024).

    ``loss = lam * 0.5 * (loss_grade + loss_count2grade) + (1 - lam) * loss_count``, each part a
    :func:`distribution_kl` with ``p = softmax + eps``: ``loss_grade`` compares the grading head with the Gaussian
    count distribution summed over ``head_ranges`` (4 grades for LDL, 13 blocks for LDS); ``loss_count`` compares the
    counting head with the Gaussian (LDL) or, given ``smoothing_epsilon``, the smoothed target (LDS);
    ``loss_count2grade`` compares the counting head summed into grades with the Gaussian summed into grades. As in
    the papers, a row's grade targets come from its count, not from ``grade``.

    Rows without a count (``count == -1``) have no count target, so their ``loss_count`` is masked out (the mean is
    over rows with a count) and their grade-level target is the one-hot of ``grade``: ``loss_count2grade`` uses it,
    and ``loss_grade`` compares the head's probabilities summed into grades with it (this choice is dermkit's; the
    papers' data has a count for every image).

    Args:
        grade_logits: grading-head logits, one per ``head_ranges`` group.
        count_logits: counting-head logits, one per count bin.
        count: lesion counts (see :func:`count_to_bin`), -1 where missing.
        grade: grade indices; read only where ``count == -1``.
        lam: weight of the grading terms in [0, 1] (0.6 for LDL, 0.3 for LDS).
        sigma: Gaussian standard deviation in bins (3 in both papers); 0 gives one-hot targets.
        ranges: grade bin ranges, e.g. :func:`grade_ranges`.
        head_ranges: bin ranges of the grading head's classes (default ``ranges``; LDS: :func:`block_ranges`).
        smoothing_epsilon: per-bin LDS weights (:func:`lds_epsilon`), or None for LDL's Gaussian count target.
        eps: added to every softmax before the log (1e-4 in the papers).
        reduction: ``none`` (per row; a missing count gives 0 in ``loss_count``), ``mean`` (``loss_count`` over the
            rows with a count, the other parts over all rows) or ``sum``.

    Returns:
        ``{"loss", "loss_grade", "loss_count", "loss_count2grade"}``.

    Shape:
        grade_logits (N, G_head), count_logits (N, K), count and grade (N,) int64; each output () or (N,).
    """
    check_reduction(reduction)
    _check_weights(lam, sigma, eps)
    if count_logits.ndim != 2:
        raise ValueError(f"ldl_loss expects count_logits (N, K), got {tuple(count_logits.shape)}")
    n, k = count_logits.shape
    ranges = check_ranges(ranges, k, "ranges")
    head_ranges = ranges if head_ranges is None else check_ranges(head_ranges, k, "head_ranges")
    head_to_grade, num_grades = nest_ranges(head_ranges, ranges), len(ranges)
    if grade_logits.shape != (n, len(head_ranges)) or count.shape != (n,) or grade.shape != (n,):
        raise ValueError(
            f"ldl_loss expects grade_logits (N, {len(head_ranges)}), count_logits (N, K), count (N,), grade (N,); got "
            f"{tuple(grade_logits.shape)}, {tuple(count_logits.shape)}, {tuple(count.shape)}, {tuple(grade.shape)}"
        )
    has_count = count >= 0
    if bool((count < -1).any()) or bool(((grade[~has_count] < 0) | (grade[~has_count] >= num_grades)).any()):
        raise ValueError(
            f"counts must be >= 0 (-1 = missing) and rows without a count need a grade in 0..{num_grades - 1}"
        )
    bins = torch.where(has_count, count_to_bin(count, k), 0)
    gauss = gaussian_distribution(bins, k, sigma, dtype=count_logits.dtype)
    one_hot_grade = F.one_hot(grade.long().clamp(0, num_grades - 1), num_grades).to(count_logits.dtype)
    grade_target = torch.where(has_count[:, None], group_sum(gauss, ranges), one_hot_grade)
    count_target = gauss
    if smoothing_epsilon is not None:
        count_target = smoothed_distribution(bins, smoothing_epsilon.to(count_logits.dtype), sigma, k)
    p_head, p_count = grade_logits.softmax(dim=1) + eps, count_logits.softmax(dim=1) + eps
    kl = {"eps": 0.0, "reduction": "none"}
    rows = {
        "loss_grade": distribution_kl(p_head, group_sum(gauss, head_ranges), mask=has_count, **kl)
        + distribution_kl(group_sum(p_head, head_to_grade), one_hot_grade, mask=~has_count, **kl),
        "loss_count": distribution_kl(p_count, count_target, mask=has_count, **kl),
        "loss_count2grade": distribution_kl(group_sum(p_count, ranges), grade_target, **kl),
    }
    out = {
        "loss_grade": _reduce(rows["loss_grade"], reduction, max(n, 1)),
        "loss_count": _reduce(rows["loss_count"], reduction, has_count.sum().clamp(min=1)),
        "loss_count2grade": _reduce(rows["loss_count2grade"], reduction, max(n, 1)),
    }
    out["loss"] = lam * 0.5 * (out["loss_grade"] + out["loss_count2grade"]) + (1.0 - lam) * out["loss_count"]
    return out


class LDLLoss(nn.Module):
    """Module form of :func:`ldl_loss` (LDL: Wu et al., ICCV 2019; LDS: Prokhorov & Kalinin, ISBI 2024).

    LDL: ``LDLLoss(grade_ranges())``; LDS: ``LDLLoss(r, block_ranges(), lam=0.3, smoothing_epsilon=lds_epsilon(r))``
    with ``r = grade_ranges()``. The smoothing weights are a buffer; arguments as in :func:`ldl_loss`.
    """

    def __init__(
        self,
        ranges: Ranges,
        head_ranges: Ranges | None = None,
        *,
        lam: float = 0.6,
        sigma: float = 3.0,
        smoothing_epsilon: torch.Tensor | None = None,
        eps: float = 1e-4,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        _check_weights(lam, sigma, eps)
        num_bins = int(ranges[-1][1]) + 1 if len(ranges) else 0
        self.ranges = check_ranges(ranges, num_bins, "ranges")
        self.head_ranges = None if head_ranges is None else check_ranges(head_ranges, num_bins, "head_ranges")
        nest_ranges(self.head_ranges or self.ranges, self.ranges)
        self.lam, self.sigma, self.eps, self.reduction = lam, sigma, eps, reduction
        self.register_buffer(
            "smoothing_epsilon", None if smoothing_epsilon is None else torch.as_tensor(smoothing_epsilon)
        )

    def forward(
        self, grade_logits: torch.Tensor, count_logits: torch.Tensor, count: torch.Tensor, grade: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return ldl_loss(
            grade_logits,
            count_logits,
            count,
            grade,
            lam=self.lam,
            sigma=self.sigma,
            ranges=self.ranges,
            head_ranges=self.head_ranges,
            smoothing_epsilon=self.smoothing_epsilon,
            eps=self.eps,
            reduction=self.reduction,
        )
