"""Loss modules for classification, and ``create_loss``: the registry the config's ``loss.name`` selects from."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch
from torch import nn

from dermkit.losses.functional import (
    balanced_class_weights,
    binary_cross_entropy,
    check_reduction,
    cross_entropy,
    effective_number_weights,
)
from dermkit.registry import Registry

LOSSES: Registry[Callable[..., nn.Module]] = Registry("loss")


class CrossEntropyLoss(nn.Module):
    """Module form of :func:`dermkit.losses.functional.cross_entropy`; class weights are a buffer.

    Attributes:
        output: ``softmax`` — the model has one logit per class.
    """

    output = "softmax"

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            logits, target, weight=self.weight, label_smoothing=self.label_smoothing, reduction=self.reduction
        )


class BinaryCrossEntropyLoss(nn.Module):
    """Module form of :func:`dermkit.losses.functional.binary_cross_entropy`; ``pos_weight`` is a buffer.

    Attributes:
        output: ``sigmoid`` — the model has a single logit, the positive class's.
    """

    output = "sigmoid"

    def __init__(self, pos_weight: torch.Tensor | float | None = None, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(float(pos_weight)))
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy(logits, target, pos_weight=self.pos_weight, reduction=self.reduction)


CLASS_WEIGHTS = ("balanced", "effective_number")


def resolve_class_weights(
    class_weights: str | Sequence[float] | None,
    class_counts: Sequence[int] | None,
    num_classes: int,
    beta: float | None = None,
) -> torch.Tensor | None:
    """Per-class weights (C,) from the ``class_weights`` option: ``balanced`` (``N / (C n_c)``),
    ``effective_number`` (Cui et al. 2019, with ``beta``, default 0.9999), an explicit list, or None."""
    if beta is not None and class_weights != "effective_number":
        raise ValueError("beta is used only with class_weights=effective_number")
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        if class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"unknown class_weights '{class_weights}'; choose one of: {', '.join(CLASS_WEIGHTS)}")
        counts = check_counts_match(class_counts, num_classes, f"class_weights='{class_weights}'")
        if class_weights == "balanced":
            return balanced_class_weights(counts)
        return effective_number_weights(counts, 0.9999 if beta is None else beta)
    weights = torch.as_tensor(list(class_weights), dtype=torch.float32)
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights has {weights.numel()} values for {num_classes} classes")
    return weights


def check_counts_match(class_counts: Sequence[int] | None, num_classes: int, user: str) -> list[int]:
    """``class_counts`` as a list, or a one-line error when missing (``user`` needs them) or of the wrong length."""
    if class_counts is None:
        raise ValueError(f"{user} needs class_counts")
    if len(class_counts) != num_classes:
        raise ValueError(f"class_counts has {len(class_counts)} values for {num_classes} classes")
    return list(class_counts)


@LOSSES.register("ce")
def _make_ce(
    num_classes: int,
    *,
    class_counts: Sequence[int] | None = None,
    class_weights: str | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    beta: float | None = None,
) -> nn.Module:
    return CrossEntropyLoss(resolve_class_weights(class_weights, class_counts, num_classes, beta), label_smoothing)


@LOSSES.register("bce")
def _make_bce(
    num_classes: int,
    *,
    class_counts: Sequence[int] | None = None,
    class_weights: str | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    beta: float | None = None,
) -> nn.Module:
    if num_classes != 2:
        raise ValueError(
            f"loss 'bce' trains one logit for exactly two classes; this dataset has {num_classes} (use loss.name=ce)"
        )
    if label_smoothing:
        raise ValueError("loss 'bce' does not take label_smoothing; use loss.name=ce")
    weights = resolve_class_weights(class_weights, class_counts, num_classes, beta)
    if weights is not None and not bool((weights > 0).all()):
        raise ValueError(
            f"loss 'bce' needs a positive weight for both classes (does one have no images?), got {weights.tolist()}"
        )
    return BinaryCrossEntropyLoss(None if weights is None else weights[1] / weights[0])


def create_loss(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build the loss registered as ``name`` (``ce``, ``bce``, ``focal``, ...); ``None`` keyword values are ignored.

    Args:
        name: registered loss name.
        num_classes: classes in the dataset.
        **kwargs: ``class_counts`` (training images per class, accepted by every loss), ``class_weights``
            (``"balanced"``, ``"effective_number"`` or a list), ``label_smoothing`` and loss-specific options
            (``gamma``, ``beta``, ``tau``...). An option the loss does not take raises, naming it.
    """
    factory = LOSSES.get(name)
    given = {key: value for key, value in kwargs.items() if value is not None}
    accepted = [
        param.name for param in inspect.signature(factory).parameters.values() if param.kind is param.KEYWORD_ONLY
    ]
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        options = ", ".join(key for key in accepted if key != "class_counts") or "none"
        raise ValueError(f"loss '{name}' does not take option '{unknown[0]}'; its options: {options}")
    return factory(num_classes, **given)


def num_outputs(loss: nn.Module, num_classes: int) -> int:
    """Logits the model needs for this loss: 1 for a sigmoid (binary) loss, else one per class."""
    return 1 if getattr(loss, "output", "softmax") == "sigmoid" else num_classes
