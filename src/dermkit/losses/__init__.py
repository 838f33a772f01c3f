"""Losses: pure functions (``functional``, ``imbalance``, ``ldam``, ``ghm``) and thin modules; ``create_loss``."""

from dermkit.losses.classification import (
    LOSSES,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    create_loss,
    num_outputs,
)
from dermkit.losses.functional import (
    balanced_class_weights,
    binary_cross_entropy,
    cross_entropy,
    effective_number_weights,
)
from dermkit.losses.ghm import GHMCLoss, ghm_c_loss
from dermkit.losses.imbalance import (
    ClassBalancedLoss,
    FocalLoss,
    LogitAdjustedLoss,
    class_balanced_loss,
    class_prior,
    focal_loss,
    logit_adjusted_loss,
)
from dermkit.losses.ldam import LDAMLoss, ldam_loss, ldam_margins

__all__ = [
    "LOSSES",
    "BinaryCrossEntropyLoss",
    "ClassBalancedLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "GHMCLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "balanced_class_weights",
    "binary_cross_entropy",
    "class_balanced_loss",
    "class_prior",
    "create_loss",
    "cross_entropy",
    "effective_number_weights",
    "focal_loss",
    "ghm_c_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjusted_loss",
    "num_outputs",
]
