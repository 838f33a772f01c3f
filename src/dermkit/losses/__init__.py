"""Losses: pure functions (``functional``) and thin modules built by ``create_loss``."""

from dermkit.losses.classification import (
    LOSSES,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    create_loss,
    num_outputs,
)
from dermkit.losses.functional import balanced_class_weights, binary_cross_entropy, cross_entropy

__all__ = [
    "LOSSES",
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "balanced_class_weights",
    "binary_cross_entropy",
    "create_loss",
    "cross_entropy",
    "num_outputs",
]
