"""GHM-C: the gradient harmonizing classification loss, as METHODS.md section 3 defines it.

From Li, Liu and Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019. Every logit is a sigmoid binary
classifier of its one-hot target; each term is weighted by the inverse density of its gradient norm
``g = |sigmoid(x) - y|`` over ``bins`` equal bins of [0, 1], so the many easy logits (small ``g``) and the few
outliers (``g`` near 1) both count less. A pure function, :func:`ghm_c_loss`, and its module :class:`GHMCLoss`
(registered as ``ghm_c``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses.classification import LOSSES
from dermkit.losses.functional import check_logits_target, check_reduction, reduce_loss


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")


def ghm_bin_index(logits: torch.Tensor, target: torch.Tensor, bins: int = 10) -> torch.Tensor:
    """The bin of each logit's gradient norm ``|sigmoid(x) - onehot(y)|``: bin j holds ``j/M <= g < (j+1)/M``, the
    last bin's upper edge is ``1 + 1e-6`` so ``g = 1`` falls in it.

    Shape:
        logits (N, C), target (N,); output (N, C) int64 in ``[0, bins)``.
    """
    check_logits_target(logits, target, "ghm_c_loss")
    _check_bins(bins)
    onehot = F.one_hot(target.long(), logits.shape[1]).to(logits.dtype)
    norm = (logits.detach().sigmoid() - onehot).abs()
    edges = torch.arange(bins + 1, dtype=logits.dtype, device=logits.device) / bins
    edges[-1] += 1e-6
    return torch.bucketize(norm, edges, right=True) - 1


def ghm_bin_counts(logits: torch.Tensor, target: torch.Tensor, bins: int = 10) -> torch.Tensor:
    """``R_j``: the number of logits whose gradient norm falls in bin j (see :func:`ghm_bin_index`).

    Shape:
        logits (N, C), target (N,); output (bins,) in the dtype of ``logits``.
    """
    return torch.bincount(ghm_bin_index(logits, target, bins).flatten(), minlength=bins).to(logits.dtype)


def ghm_c_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    bins: int = 10,
    bin_counts: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """GHM-C loss: ``sum_i beta_i * BCE(x_i, y_i) / N`` over the N = (images x classes) logits.

    From Li, Liu and Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019. A logit in bin j weighs
    ``beta_i = N / R_j / n`` where ``R_j`` counts this batch's logits in bin j (or ``bin_counts[j]``, e.g. the
    moving average ``S_j`` of :class:`GHMCLoss`) and ``n`` is the number of bins this batch fills. The weights carry
    no gradient.

    Args:
        logits: unnormalised scores, one sigmoid classifier per class.
        target: class indices (one-hot targets are built from them).
        bins: number of equal bins of [0, 1].
        bin_counts: densities (bins,) to use instead of this batch's counts; positive wherever a logit falls.
        reduction: ``none`` (one term per logit), ``mean`` (over the N logits) or ``sum``.

    Shape:
        logits (N, C), target (N,); output () or (N, C) for ``none``.
    """
    check_reduction(reduction)
    index = ghm_bin_index(logits, target, bins)
    counts = torch.bincount(index.flatten(), minlength=bins).to(logits.dtype)
    density = counts if bin_counts is None else bin_counts.detach().to(logits)
    if density.shape != (bins,) or not bool((density[index] > 0).all()):
        raise ValueError(f"bin_counts must hold {bins} values, positive for every bin that holds a logit")
    weight = index.numel() / density[index] / (counts > 0).sum()
    onehot = F.one_hot(target.long(), logits.shape[1]).to(logits.dtype)
    loss = weight * F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    return reduce_loss(loss, reduction)


class GHMCLoss(nn.Module):
    """Module form of :func:`ghm_c_loss` (Li, Liu, Wang, AAAI 2019), with the paper's optional momentum.

    With ``momentum = 0`` (the default) the loss is a pure function of the batch. With ``momentum = alpha > 0``
    the densities are the moving average ``S_j <- alpha * S_j + (1 - alpha) * R_j`` (``S`` starts at 0), kept in the
    ``bin_density`` buffer and advanced by :meth:`update_statistics`. The engine has no hook that sees the logits
    before the loss, so ``forward`` calls :meth:`update_statistics` itself, in training mode only: this is the one
    loss whose ``forward`` changes state. In eval mode it uses the batch's own counts and changes nothing.

    Args:
        bins: number of equal bins of [0, 1].
        momentum: alpha in [0, 1); the paper uses 0.75.
        reduction: ``none``, ``mean`` or ``sum``.

    Attributes:
        output: ``softmax`` — the model has one logit per class (the largest logit is the prediction).
    """

    output = "softmax"

    def __init__(self, bins: int = 10, momentum: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(reduction)
        _check_bins(bins)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.bins = bins
        self.momentum = momentum
        self.reduction = reduction
        self.register_buffer("bin_density", torch.zeros(bins))

    @torch.no_grad()
    def update_statistics(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Advance the moving average by this batch's bin counts and return it.

        Shape:
            logits (N, C), target (N,); output (bins,).
        """
        counts = ghm_bin_counts(logits, target, self.bins).to(self.bin_density)
        self.bin_density.mul_(self.momentum).add_((1.0 - self.momentum) * counts)
        return self.bin_density

    def _densities(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        if self.momentum > 0 and self.training:
            return self.update_statistics(logits, target)
        return None

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ghm_c_loss(
            logits, target, bins=self.bins, bin_counts=self._densities(logits, target), reduction=self.reduction
        )


@LOSSES.register("ghm_c")
def _make_ghm_c(
    num_classes: int, *, class_counts: list[int] | None = None, bins: int = 10, momentum: float = 0.0
) -> nn.Module:
    return GHMCLoss(bins, momentum)
