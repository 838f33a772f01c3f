"""LDAM-DRW: label-distribution-aware margins with deferred re-weighting, for long-tailed classification.

From Cao, Wei, Gaidon, Arechiga and Ma, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
NeurIPS 2019. A pure function, :func:`ldam_loss`, and its module :class:`LDAMLoss` (registered as ``ldam``), whose
class weights switch on in :meth:`LDAMLoss.set_epoch`, never inside ``forward``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses.classification import LOSSES, check_counts_match
from dermkit.losses.functional import (
    check_class_counts,
    check_logits_target,
    check_reduction,
    cross_entropy,
    effective_number_weights,
)


def ldam_margins(class_counts: Sequence[int] | torch.Tensor, max_m: float = 0.5) -> torch.Tensor:
    """LDAM margins ``n_c ** (-1/4)`` scaled so the largest (the rarest class's) is ``max_m``; 0 for empty classes.

    From Cao, Wei, Gaidon, Arechiga and Ma, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
    Loss", NeurIPS 2019.

    Shape:
        class_counts (C,); output (C,) float32.
    """
    if max_m <= 0:
        raise ValueError(f"max_m must be > 0, got {max_m}")
    counts = check_class_counts(class_counts)
    margins = torch.zeros_like(counts)
    present = counts > 0
    margins[present] = counts[present] ** -0.25
    return margins * (max_m / margins.max())


def ldam_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    margins: torch.Tensor,
    *,
    s: float = 30.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """LDAM loss: cross-entropy of ``s * (logits - margin_y * onehot(y))``.

    From Cao, Wei, Gaidon, Arechiga and Ma, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
    Loss", NeurIPS 2019. The paper's classifier normalises features and weights (cosine logits), which is why
    the scale ``s`` is 30; here ``s`` multiplies whatever logits the model gives.

    Args:
        logits: unnormalised scores.
        target: class indices.
        margins: per-class margins (C,), from :func:`ldam_margins`.
        s: logit scale, > 0.
        weight: per-class weights (C,) for deferred re-weighting; the mean is then weighted, as in the paper's code.
        reduction: ``none``, ``mean`` or ``sum``.

    Shape:
        logits (N, C), target (N,), margins (C,); output () or (N,) for ``none``.
    """
    check_logits_target(logits, target, "ldam_loss")
    if s <= 0:
        raise ValueError(f"s must be > 0, got {s}")
    if margins.shape != logits.shape[1:]:
        raise ValueError(f"ldam_loss: margins have shape {tuple(margins.shape)}, expected ({logits.shape[1]},)")
    target = target.long()
    shift = margins.to(logits)[target][:, None] * F.one_hot(target, logits.shape[1]).to(logits)
    return cross_entropy(s * (logits - shift), target, weight=weight, reduction=reduction)


class LDAMLoss(nn.Module):
    """Module form of :func:`ldam_loss` with deferred re-weighting (LDAM-DRW; Cao et al., NeurIPS 2019).

    Args:
        class_counts: training images per class.
        max_m: the largest margin (the rarest class's).
        s: logit scale.
        drw_epoch: from this epoch on (0-based) the loss is weighted by the effective-number weights of ``beta``;
            None never re-weights. The engine reports the epoch through :meth:`set_epoch`.
        beta: of the re-weighting, in [0, 1).
        reduction: ``none``, ``mean`` or ``sum``.

    Attributes:
        output: ``softmax`` — the model has one logit per class.
    """

    output = "softmax"

    def __init__(
        self,
        class_counts: Sequence[int],
        max_m: float = 0.5,
        s: float = 30.0,
        drw_epoch: int | None = None,
        beta: float = 0.9999,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        if s <= 0:
            raise ValueError(f"s must be > 0, got {s}")
        if drw_epoch is not None and drw_epoch < 0:
            raise ValueError(f"drw_epoch must be >= 0, got {drw_epoch}")
        self.s = s
        self.reduction = reduction
        self.drw_epoch = drw_epoch
        self.reweighting = False
        self.register_buffer("margins", ldam_margins(class_counts, max_m))
        self.register_buffer("drw_weight", effective_number_weights(class_counts, beta))

    def set_epoch(self, epoch: int) -> None:
        """Switch the class weights on once ``epoch >= drw_epoch`` (and off again before it)."""
        self.reweighting = self.drw_epoch is not None and epoch >= self.drw_epoch

    @property
    def weight(self) -> torch.Tensor | None:
        """The class weights in use: the re-weighting buffer from ``drw_epoch`` on, else None."""
        return self.drw_weight if self.reweighting else None

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ldam_loss(logits, target, self.margins, s=self.s, weight=self.weight, reduction=self.reduction)


@LOSSES.register("ldam")
def _make_ldam(
    num_classes: int,
    *,
    class_counts: Sequence[int] | None = None,
    max_m: float = 0.5,
    s: float = 30.0,
    drw_epoch: int | None = None,
    beta: float = 0.9999,
) -> nn.Module:
    return LDAMLoss(check_counts_match(class_counts, num_classes, "loss 'ldam'"), max_m, s, drw_epoch, beta)
