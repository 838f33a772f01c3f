"""Losses as pure functions of ``(logits, target)``; ``nn.Module`` twins live beside them.

Every function takes ``reduction`` in ``none``/``mean``/``sum`` and validates its arguments with one-line errors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str) -> None:
    """Raise a clear error for an unknown reduction."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction '{reduction}'; choose one of: {', '.join(REDUCTIONS)}")


def check_temperature(name: str, temperature: float) -> None:
    """Raise one line unless ``temperature`` > 0."""
    if not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")


def check_weights(name: str, **weights: float) -> None:
    """Raise one line for a negative loss weight."""
    for key, value in weights.items():
        if not value >= 0:
            raise ValueError(f"{name}: {key} must be >= 0, got {value}")


def check_rows(name: str, student: torch.Tensor, teacher: torch.Tensor) -> None:
    """One-line error unless student and teacher outputs have the same number of rows (the same batch)."""
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(
            f"{name}: student has {student.shape[0]} rows and teacher {teacher.shape[0]}; both must see the same batch"
        )


def check_logits_target(logits: torch.Tensor, target: torch.Tensor, name: str) -> None:
    """One-line error unless logits are (N, C) with C >= 2 and target (N,)."""
    if logits.ndim != 2 or logits.shape[1] < 2 or target.shape != logits.shape[:1]:
        raise ValueError(
            f"{name} expects logits (N, C >= 2) and target (N,), got {tuple(logits.shape)} and {tuple(target.shape)}"
        )


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """``none`` keeps ``loss``; ``mean`` and ``sum`` reduce over every element."""
    return loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax cross-entropy with optional class weights and label smoothing (Szegedy et al., CVPR 2016).

    Args:
        logits: unnormalised scores.
        target: class indices.
        weight: per-class weights (C,), e.g. from :func:`balanced_class_weights`.
        label_smoothing: mass in [0, 1) spread uniformly over the classes.
        reduction: ``none``, ``mean`` (weighted mean when ``weight`` is given) or ``sum``.

    Shape:
        logits (N, C), target (N,) int64; output () or (N,) for ``none``.
    """
    check_reduction(reduction)
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy expects logits (N, C) and target (N,), got {tuple(logits.shape)} and {tuple(target.shape)}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if weight is not None:
        if weight.shape != logits.shape[1:]:
            raise ValueError(f"cross_entropy: weight has shape {tuple(weight.shape)}, expected ({logits.shape[1]},)")
        weight = weight.to(logits)
    return F.cross_entropy(logits, target.long(), weight=weight, label_smoothing=label_smoothing, reduction=reduction)


def binary_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    pos_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Sigmoid binary cross-entropy on a single logit per image (the skin_classifier project's ``BCEWithLogits``).

    Args:
        logits: one score per image (positive class = index 1).
        target: 0/1 labels (int or float).
        pos_weight: weight of the positive term (scalar tensor), e.g. negatives / positives.
        reduction: ``none``, ``mean`` or ``sum``.

    Shape:
        logits (N,) or (N, 1), target (N,); output () or (N,) for ``none``.
    """
    check_reduction(reduction)
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.ndim != 1 or target.shape != logits.shape:
        raise ValueError(
            f"binary_cross_entropy expects logits (N,) or (N, 1) and target (N,), got "
            f"{tuple(logits.shape)} and {tuple(target.shape)}"
        )
    return F.binary_cross_entropy_with_logits(
        logits, target.to(logits.dtype), pos_weight=pos_weight, reduction=reduction
    )


def balanced_class_weights(class_counts: list[int] | torch.Tensor) -> torch.Tensor:
    """``N / (C * n_c)`` per class (scikit-learn's "balanced"); classes with no images get weight 0.

    Shape:
        class_counts (C,); output (C,) float32.
    """
    counts = check_class_counts(class_counts)
    present = counts > 0
    weights = torch.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def check_class_counts(class_counts: list[int] | torch.Tensor) -> torch.Tensor:
    """Training images per class as a float32 tensor, or a one-line error if they are not counts.

    Shape:
        class_counts (C,); output (C,) float32.
    """
    counts = torch.as_tensor(class_counts, dtype=torch.float32)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f"class_counts must be non-negative counts with a positive total, got {counts.tolist()}")
    return counts


def effective_number_weights(class_counts: list[int] | torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """Class-balanced weights ``(1 - beta) / (1 - beta ** n_c)``: one over the effective number of samples.

    From Cui, Jia, Lin, Song and Belongie, "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019.
    The weights are normalised to sum to the number of classes that have images (C when none is empty); a class
    with no images gets 0. ``beta = 0`` gives every class weight 1; ``beta -> 1`` approaches ``1 / n_c``.

    Args:
        class_counts: training images per class.
        beta: in [0, 1).

    Shape:
        class_counts (C,); output (C,) float32.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = check_class_counts(class_counts).double()
    present = counts > 0
    weights = torch.zeros_like(counts)
    weights[present] = (1.0 - beta) / (1.0 - beta ** counts[present])
    return (weights * present.sum() / weights.sum()).float()
