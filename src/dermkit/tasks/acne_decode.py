"""Acne grade and lesion count from the two heads' logits, in numpy only (no torch: the ONNX predictor shares it).

The decision rules of LDL (X. Wu et al., "Joint Acne Image Grading and Counting via Label Distribution Learning",
ICCV 2019) and LDS (K. Prokhorov and A. A. Kalinin, "Improving Acne Image Grading with Label Distribution Smoothing",
ISBI 2024, arXiv 2403.00268): ``p = softmax(logits) + eps`` for both heads; grade probabilities from the counting head
are its sums over each grade's count bins, from the grading head its sums over each grade's head classes (LDS's 13
blocks; LDL's head already has one class per grade); grade = argmax of their average; count = argmax(p_count) + 1.

Ranges are inclusive ``(first, last)`` index pairs, as written by :func:`dermkit.losses.ldl.grade_ranges` and
:func:`dermkit.losses.ldl.nest_ranges` into the model's metadata. Keep this module's imports numpy-only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["GRADE_RULES", "decode_acne", "group_sum", "softmax"]

GRADE_RULES = ("both", "head", "count")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits.

    Shape:
        logits (N, C); output (N, C) float64, rows summing to 1.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _check_ranges(ranges: Sequence[Sequence[int]], size: int, what: str) -> list[tuple[int, int]]:
    out, start = [(int(a), int(b)) for a, b in ranges], 0
    for first, last in out:
        if first != start or last < first:
            break
        start = last + 1
    if start != size or not out:
        raise ValueError(f"{what} must be contiguous inclusive (first, last) ranges covering 0..{size - 1}, got {out}")
    return out


def group_sum(proba: np.ndarray, ranges: Sequence[Sequence[int]]) -> np.ndarray:
    """Sums of ``proba`` over groups of consecutive columns.

    Shape:
        proba (N, K); output (N, G) with G = len(ranges).
    """
    ranges = _check_ranges(ranges, proba.shape[-1], "ranges")
    return np.stack([proba[..., a : b + 1].sum(axis=-1) for a, b in ranges], axis=-1)


def decode_acne(
    grade_logits: np.ndarray,
    count_logits: np.ndarray,
    *,
    ranges: Sequence[Sequence[int]],
    head_grade_ranges: Sequence[Sequence[int]] | None = None,
    grade_rule: str = "both",
    eps: float = 1e-4,
) -> dict[str, np.ndarray]:
    """Grade, lesion count and both distributions of a batch of images (LDL, ICCV 2019; LDS, ISBI 2024).

    Args:
        grade_logits: grading-head logits (LDL: one per grade; LDS: one per five-count block).
        count_logits: counting-head logits, one per count bin.
        ranges: per grade, its inclusive count-bin range, e.g. [(0, 4), (5, 19), (20, 49), (50, 64)].
        head_grade_ranges: per grade, its inclusive range of grading-head classes (LDS: [(0, 0), (1, 3), (4, 9),
            (10, 12)]); None when the head has one class per grade (LDL).
        grade_rule: ``both`` (argmax of the average of the two heads' grade probabilities: the LDS code's rule),
            ``head`` (the grading head alone: the LDL code's printed "test acc") or ``count`` (the counting head's
            grade sums alone).
        eps: added to each softmax before the sums (1e-4 in both papers).

    Returns:
        ``grade`` (N,) int64 grade index; ``count`` (N,) int64 lesion count ``argmax(p_count) + 1``;
        ``grade_proba`` (N, G) the probabilities the rule chose from, renormalised to sum to 1 (so ``grade`` is their
        argmax); ``count_proba`` (N, K) ``softmax(count_logits)``.

    Shape:
        grade_logits (N, G_head), count_logits (N, K).
    """
    if grade_rule not in GRADE_RULES:
        raise ValueError(f"unknown grade_rule '{grade_rule}'; choose one of: {', '.join(GRADE_RULES)}")
    grade_logits, count_logits = np.asarray(grade_logits), np.asarray(count_logits)
    if grade_logits.ndim != 2 or count_logits.ndim != 2 or grade_logits.shape[0] != count_logits.shape[0]:
        raise ValueError(
            f"decode_acne expects grade_logits (N, G) and count_logits (N, K), got {grade_logits.shape} and "
            f"{count_logits.shape}"
        )
    if head_grade_ranges is None:
        head_grade_ranges = [(g, g) for g in range(grade_logits.shape[1])]
    if len(head_grade_ranges) != len(ranges):
        raise ValueError(f"head_grade_ranges has {len(head_grade_ranges)} grades but ranges has {len(ranges)}")
    count_proba = softmax(count_logits)
    from_head = group_sum(softmax(grade_logits) + eps, head_grade_ranges)
    from_count = group_sum(count_proba + eps, ranges)
    chosen = {"both": 0.5 * (from_head + from_count), "head": from_head, "count": from_count}[grade_rule]
    grade_proba = chosen / chosen.sum(axis=1, keepdims=True)
    return {
        "grade": np.argmax(grade_proba, axis=1).astype(np.int64),
        "count": np.argmax(count_proba, axis=1).astype(np.int64) + 1,
        "grade_proba": grade_proba,
        "count_proba": count_proba,
    }
