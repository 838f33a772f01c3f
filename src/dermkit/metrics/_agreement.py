"""Agreement measures on hard predictions: Cohen's kappa and Youden's J (re-exported from ``functional``)."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from sklearn import metrics as skm

from ._validation import MetricInputError, check_labels, infer_num_classes, warn_undefined


def cohen_kappa(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int | None = None,
    weights: Literal["linear", "quadratic"] | None = None,
) -> float:
    """Cohen's kappa (Cohen 1960; weighted: Cohen 1968) via ``sklearn.metrics.cohen_kappa_score``.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred when None.
        weights: None, "linear" or "quadratic" disagreement weights.

    Returns:
        Kappa in [-1, 1]; NaN when chance agreement is total (e.g. a single class in both arrays).
    """
    if weights not in (None, "linear", "quadratic"):
        raise MetricInputError(f"weights must be one of None, 'linear', 'quadratic', got {weights!r}")
    y_true, y_pred = check_labels(y_true, y_pred, num_classes=num_classes)
    labels = np.arange(infer_num_classes(num_classes, y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(skm.cohen_kappa_score(y_true, y_pred, labels=labels, weights=weights))
    if not np.isfinite(value):
        warn_undefined("cohen_kappa (expected agreement is perfect)")
        return float("nan")
    return value


def youden_index(y_true: np.ndarray, y_pred: np.ndarray, positive: int = 1) -> float:
    """Youden's J = sensitivity + specificity - 1 of hard predictions, ``positive`` versus the rest (Youden 1950).

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        positive: Class treated as positive.

    Returns:
        J in [-1, 1]; NaN if ``y_true`` has no positives or no negatives.
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    t, p = y_true == positive, y_pred == positive
    if t.all() or not t.any():
        warn_undefined("youden_index (y_true needs both positives and negatives)")
        return float("nan")
    return float(np.mean(p[t]) + np.mean(~p[~t]) - 1.0)
