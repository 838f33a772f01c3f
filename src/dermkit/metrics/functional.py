"""Classification metrics as pure functions on numpy arrays.

Conventions: ``y_true`` is an int array (N,) of class indices ``0..C-1``; ``y_pred`` the same for predicted
labels; ``proba`` a float array (N, C) of class probabilities whose rows sum to 1. Binary means ``C == 2`` with
the positive class at index ``positive`` (1 by default). Scikit-learn (Pedregosa et al. 2011) is used wherever it
has the metric; only specificity, G-mean and the NaN-aware averaging are written here. The probability metrics
(AUCs, average precision, top-k, log loss, Brier) live in ``_scores.py`` and are re-exported from here.

A value that is undefined on the data (precision of a class never predicted, recall of a class absent from
``y_true``, an AUC with a single class present) is ``float("nan")`` and emits an
:class:`UndefinedMetricWarning`; it is never silently replaced by 0. Bad inputs raise :class:`MetricInputError`,
a ``ValueError`` (and ``DermkitError``) with a one-line message. Both classes are defined in ``_validation.py``
(shared by all metric modules without import cycles) and are meant to be imported from here.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from sklearn import metrics as skm

from ._agreement import cohen_kappa, youden_index
from ._scores import average_precision, brier_score, log_loss, mauc, roc_auc, top_k_accuracy
from ._validation import (
    MetricInputError,
    UndefinedMetricWarning,
    check_labels,
    check_proba,
    infer_num_classes,
    warn_undefined,
)

__all__ = [
    "MetricInputError",
    "UndefinedMetricWarning",
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "brier_score",
    "cohen_kappa",
    "confusion_matrix",
    "f1",
    "g_mean",
    "g_mean_of_recalls",
    "log_loss",
    "mauc",
    "nan_average",
    "per_class_from_confusion",
    "precision",
    "predict",
    "recall",
    "roc_auc",
    "specificity",
    "support",
    "top_k_accuracy",
    "youden_index",
]

Average = Literal["macro", "weighted"] | None


def predict(proba: np.ndarray, threshold: float | None = None, positive: int = 1) -> np.ndarray:
    """Turn probabilities into labels: argmax, or for binary ``proba[:, positive] >= threshold``.

    Args:
        proba: (N, C) class probabilities.
        threshold: Decision threshold in [0, 1]; only allowed when C == 2.
        positive: Index of the positive class for the threshold rule.

    Returns:
        (N,) int array of predicted class indices (argmax ties go to the lower index).
    """
    proba = check_proba(proba)
    if threshold is None:
        return np.argmax(proba, axis=1)
    if proba.shape[1] != 2:
        raise MetricInputError(f"a decision threshold needs binary probabilities, got {proba.shape[1]} classes")
    if not 0.0 <= threshold <= 1.0:
        raise MetricInputError(f"threshold must lie in [0, 1], got {threshold}")
    return np.where(proba[:, positive] >= threshold, positive, 1 - positive)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Confusion matrix with one row and column per class, even for classes absent from the data.

    Wraps ``sklearn.metrics.confusion_matrix`` with ``labels=range(num_classes)``.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred as ``max(label) + 1`` when None.

    Returns:
        (C, C) int array; rows are true classes, columns predicted classes.
    """
    y_true, y_pred = check_labels(y_true, y_pred, num_classes=num_classes)
    c = infer_num_classes(num_classes, y_true, y_pred)
    return skm.confusion_matrix(y_true, y_pred, labels=np.arange(c)).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions (``sklearn.metrics.accuracy_score``).

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.

    Returns:
        Accuracy in [0, 1].
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    return float(skm.accuracy_score(y_true, y_pred))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (Brodersen et al. 2010).

    Equals ``sklearn.metrics.balanced_accuracy_score`` (used here).

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.

    Returns:
        Balanced accuracy in [0, 1].
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(skm.balanced_accuracy_score(y_true, y_pred))


def _counts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    cm = np.asarray(cm, dtype=np.float64)
    return np.diag(cm), cm.sum(axis=1), cm.sum(axis=0), float(cm.sum())


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1, specificity and support from a confusion matrix, without warnings.

    F1 is ``2 TP / (2 TP + FP + FN)`` (undefined only when the class is absent from both truth and predictions),
    matching scikit-learn's ``zero_division=np.nan`` convention.

    Args:
        cm: (C, C) confusion matrix, rows true, columns predicted.

    Returns:
        Dict of (C,) arrays ``precision``, ``recall``, ``f1``, ``specificity`` (NaN where undefined) and int
        ``support``.
    """
    tp, true_n, pred_n, n = _counts(cm)
    fp, fn = pred_n - tp, true_n - tp
    neg = n - true_n
    return {
        "precision": _divide(tp, pred_n),
        "recall": _divide(tp, true_n),
        "f1": _divide(2 * tp, 2 * tp + fp + fn),
        "specificity": _divide(neg - fp, neg),
        "support": true_n.astype(np.int64),
    }


_WHY = {
    "precision": "class never predicted",
    "recall": "class absent from y_true",
    "f1": "class absent from y_true and predictions",
    "specificity": "no samples outside the class",
}


def nan_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean (or weighted mean) over the finite entries; NaN if none is finite.

    Args:
        values: (C,) per-class values, NaN where undefined.
        weights: Optional (C,) non-negative weights (e.g. support).

    Returns:
        The average over defined classes, weights renormalised over them; NaN if their weights sum to 0 (where
        scikit-learn's ``_nanaverage`` falls back to the unweighted mean).
    """
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    if not ok.any() or w[ok].sum() <= 0:
        return float("nan")
    return float(np.sum(values[ok] * w[ok]) / np.sum(w[ok]))


def _per_class_metric(name: str, y_true, y_pred, num_classes: int | None, average: Average):
    if average not in (None, "macro", "weighted"):
        raise MetricInputError(f"average must be one of None, 'macro', 'weighted', got {average!r}")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    stats = per_class_from_confusion(cm)
    values = stats[name]
    undefined = np.flatnonzero(np.isnan(values))
    if undefined.size:
        warn_undefined(f"{name} of class(es) {undefined.tolist()} ({_WHY[name]})", average)
    if average is None:
        return values
    return nan_average(values, stats["support"] if average == "weighted" else None)


def precision(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None, average: Average = None):
    """Precision TP / (TP + FP) per class, or its macro / support-weighted average over defined classes.

    Matches ``sklearn.metrics.precision_score(..., labels=range(C), zero_division=np.nan)``.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred when None.
        average: None for the (C,) array, "macro" or "weighted" for a float.

    Returns:
        (C,) float array with NaN for classes never predicted, or the NaN-aware average.
    """
    return _per_class_metric("precision", y_true, y_pred, num_classes, average)


def recall(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None, average: Average = None):
    """Recall (sensitivity) TP / (TP + FN) per class or averaged; NaN for classes absent from ``y_true``.

    Matches ``sklearn.metrics.recall_score(..., zero_division=np.nan)`` and ``imblearn.metrics.sensitivity_score``.
    Arguments and return as in :func:`precision`.
    """
    return _per_class_metric("recall", y_true, y_pred, num_classes, average)


def f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None, average: Average = None):
    """F1 = 2 TP / (2 TP + FP + FN) per class or averaged (van Rijsbergen 1979).

    Matches ``sklearn.metrics.f1_score(..., zero_division=np.nan)``. Arguments and return as in :func:`precision`.
    """
    return _per_class_metric("f1", y_true, y_pred, num_classes, average)


def specificity(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None, average: Average = None):
    """One-vs-rest specificity TN / (TN + FP) per class or averaged (scikit-learn lacks it).

    Matches ``imblearn.metrics.specificity_score``; "weighted" weights by the class support as imblearn does.
    NaN for a class that every sample belongs to. Arguments and return as in :func:`precision`.
    """
    return _per_class_metric("specificity", y_true, y_pred, num_classes, average)


def support(y_true: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Number of true samples per class.

    Args:
        y_true: (N,) true class indices.
        num_classes: C; inferred when None.

    Returns:
        (C,) int array.
    """
    (y_true,) = check_labels(y_true, num_classes=num_classes)
    return np.bincount(y_true, minlength=infer_num_classes(num_classes, y_true)).astype(np.int64)


def g_mean(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None, zero_recall: float | None = None
) -> float:
    """Geometric mean of per-class recalls (Kubat & Matwin 1997) over the classes present in ``y_true``.

    With ``zero_recall=0.001`` zero recalls are replaced by 0.001 before the product, the variant used by
    self-paced balanced learning (SPBL) and by ``imblearn.metrics.geometric_mean_score(correction=0.001)``.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred when None.
        zero_recall: Replacement for zero recalls; None keeps them (so any missed class gives 0).

    Returns:
        G-mean in [0, 1]; NaN if no class is present.
    """
    return g_mean_of_recalls(recall(y_true, y_pred, num_classes, average=None), zero_recall)


def g_mean_of_recalls(recalls: np.ndarray, zero_recall: float | None = None) -> float:
    """Geometric mean of the finite per-class recalls (NaN entries are absent classes); see :func:`g_mean`."""
    rec = np.asarray(recalls, dtype=np.float64)
    rec = rec[np.isfinite(rec)]
    if rec.size == 0:
        return float("nan")
    if zero_recall is not None:
        rec = np.where(rec == 0, zero_recall, rec)
    if np.any(rec == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(rec))))
