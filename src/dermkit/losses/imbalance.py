"""Losses for long-tailed (class-imbalanced) classification: focal, class-balanced and logit-adjusted.

Each is a pure function of ``(logits, target, ...)`` and a module whose ``forward`` is one line, registered in
:data:`dermkit.losses.LOSSES` (``focal``, ``class_balanced``, ``logit_adjusted``, ``balanced_softmax``). Statistics
of the training set (class weights, priors) are buffers computed once; nothing changes inside ``forward``. LDAM-DRW
is in :mod:`dermkit.losses.ldam`, GHM-C in :mod:`dermkit.losses.ghm`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses.classification import LOSSES, check_counts_match, resolve_class_weights
from dermkit.losses.functional import (
    check_class_counts,
    check_logits_target,
    check_reduction,
    cross_entropy,
    effective_number_weights,
    reduce_loss,
)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax focal loss ``-w_t (1 - p_t)^gamma log p_t``.

    From Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection", ICCV 2017. ``gamma = 0``
    is cross-entropy; ``weight`` plays the part of the paper's alpha, one value per class.

    Args:
        logits: unnormalised scores.
        target: class indices.
        gamma: focusing parameter, >= 0.
        weight: per-class weights (C,) (alpha); the mean is the plain mean of the weighted terms, as in the paper
            (``cross_entropy`` with ``weight`` divides by the sum of the weights instead).
        reduction: ``none``, ``mean`` or ``sum``.

    Returns:
        The loss; per image for ``none``.

    Shape:
        logits (N, C), target (N,) int64; output () or (N,) for ``none``.
    """
    check_reduction(reduction)
    check_logits_target(logits, target, "focal_loss")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    target = target.long()
    log_p = logits.log_softmax(dim=1).gather(1, target[:, None])[:, 0]
    # log(1 - p_t) from the other classes' logits: finite and smooth even where p_t rounds to 1 in floating point
    others = logits.masked_fill(F.one_hot(target, logits.shape[1]).bool(), float("-inf"))
    log_1m_p = others.logsumexp(dim=1) - logits.logsumexp(dim=1)
    loss = -(gamma * log_1m_p).exp() * log_p
    if weight is not None:
        if weight.shape != logits.shape[1:]:
            raise ValueError(f"focal_loss: weight has shape {tuple(weight.shape)}, expected ({logits.shape[1]},)")
        loss = loss * weight.to(logits)[target]
    return reduce_loss(loss, reduction)


def class_balanced_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_counts: Sequence[int] | torch.Tensor,
    *,
    beta: float = 0.9999,
    gamma: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Class-balanced loss: each image's loss times ``(1 - beta) / (1 - beta ** n_y)``, normalised to sum to C.

    From Cui, Jia, Lin, Song and Belongie, "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019.
    The base loss is softmax cross-entropy (``gamma = 0``) or focal loss (``gamma > 0``); ``beta = 0`` is the
    unweighted base loss. Weights: :func:`dermkit.losses.functional.effective_number_weights`.

    Args:
        logits: unnormalised scores.
        target: class indices.
        class_counts: training images per class (C,).
        beta: in [0, 1).
        gamma: focal-loss focusing parameter (0 = cross-entropy).
        reduction: ``none``, ``mean`` (plain mean of the weighted terms, as in the paper) or ``sum``.

    Shape:
        logits (N, C), target (N,), class_counts (C,); output () or (N,) for ``none``.
    """
    weight = effective_number_weights(class_counts, beta)
    return focal_loss(logits, target, gamma=gamma, weight=weight, reduction=reduction)


def class_prior(class_counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Class frequencies ``n_c / N`` (C,); a class with no images raises (its log-prior would be -inf)."""
    counts = check_class_counts(class_counts)
    if (counts == 0).any():
        empty = int((counts == 0).nonzero()[0, 0])
        raise ValueError(f"logit adjustment needs training images of every class; class_counts[{empty}] is 0")
    return counts / counts.sum()


def logit_adjusted_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    prior: torch.Tensor,
    *,
    tau: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Logit-adjusted cross-entropy: softmax cross-entropy of ``logits + tau * log(prior)``.

    From Menon, Jayasumana, Rawat, Jain, Veit and Kumar, "Long-tail learning via logit adjustment", ICLR 2021.
    With ``tau = 1`` this is the balanced softmax of Ren et al. (NeurIPS 2020). The adjustment is used in training
    only: the model's own logits, unadjusted, are its balanced predictions.

    Args:
        logits: unnormalised scores.
        target: class indices.
        prior: training class frequencies (C,), all positive (see :func:`class_prior`).
        tau: temperature of the adjustment.
        reduction: ``none``, ``mean`` or ``sum``.

    Shape:
        logits (N, C), target (N,), prior (C,); output () or (N,) for ``none``.
    """
    if prior.shape != logits.shape[1:] or not bool((prior > 0).all()):
        raise ValueError(f"prior must hold {logits.shape[1]} positive class frequencies, got {prior.tolist()}")
    return cross_entropy(logits + tau * prior.to(logits).log(), target, reduction=reduction)


class _Loss(nn.Module):
    """Common part of the modules: the reduction, and ``output`` (one logit per class, softmax)."""

    output = "softmax"

    def __init__(self, reduction: str) -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction


class FocalLoss(_Loss):
    """Module form of :func:`focal_loss` (Lin et al., ICCV 2017); ``weight`` is a buffer."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, target, gamma=self.gamma, weight=self.weight, reduction=self.reduction)


class ClassBalancedLoss(FocalLoss):
    """Module form of :func:`class_balanced_loss` (Cui et al., CVPR 2019): the effective-number weights are the
    ``weight`` buffer of a focal loss (``gamma = 0``: cross-entropy)."""

    def __init__(
        self, class_counts: Sequence[int], beta: float = 0.9999, gamma: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__(gamma, effective_number_weights(class_counts, beta), reduction)
        self.beta = beta


class LogitAdjustedLoss(_Loss):
    """Module form of :func:`logit_adjusted_loss` (Menon et al., ICLR 2021); the class ``prior`` is a buffer."""

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.tau = tau
        self.register_buffer("prior", class_prior(class_counts))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return logit_adjusted_loss(logits, target, self.prior, tau=self.tau, reduction=self.reduction)


@LOSSES.register("focal")
def _make_focal(
    num_classes: int,
    *,
    class_counts: Sequence[int] | None = None,
    gamma: float = 2.0,
    class_weights: str | Sequence[float] | None = None,
    beta: float | None = None,
) -> nn.Module:
    return FocalLoss(gamma, resolve_class_weights(class_weights, class_counts, num_classes, beta))


@LOSSES.register("class_balanced")
def _make_class_balanced(
    num_classes: int,
    *,
    class_counts: Sequence[int] | None = None,
    beta: float = 0.9999,
    base: str = "ce",
    gamma: float | None = None,
) -> nn.Module:
    if base not in ("ce", "focal"):
        raise ValueError(f"unknown base '{base}' for loss 'class_balanced'; choose one of: ce, focal")
    if base == "ce" and gamma is not None:
        raise ValueError("gamma is used only with base=focal")
    counts = check_counts_match(class_counts, num_classes, "loss 'class_balanced'")
    return ClassBalancedLoss(counts, beta, 0.0 if base == "ce" else 2.0 if gamma is None else gamma)


@LOSSES.register("logit_adjusted")
def _make_logit_adjusted(num_classes: int, *, class_counts: Sequence[int] | None = None, tau: float = 1.0) -> nn.Module:
    return LogitAdjustedLoss(check_counts_match(class_counts, num_classes, "loss 'logit_adjusted'"), tau)


@LOSSES.register("balanced_softmax")
def _make_balanced_softmax(num_classes: int, *, class_counts: Sequence[int] | None = None) -> nn.Module:
    """Balanced softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020):
    logit adjustment with ``tau = 1``."""
    return LogitAdjustedLoss(check_counts_match(class_counts, num_classes, "loss 'balanced_softmax'"), 1.0)
