"""Probability-based metrics (ranking, proper scoring rules). Re-exported by :mod:`dermkit.metrics.functional`.

Every function takes ``y_true`` (N,) class indices and ``proba`` (N, C) class probabilities; binary means
C == 2 with the positive class at ``positive`` (default 1).
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
from sklearn import metrics as skm

from ._validation import MetricInputError, check_proba, warn_undefined


def _positive(positive: int | None, c: int) -> int:
    pos = 1 if positive is None else int(positive)
    if not 0 <= pos < c:
        raise MetricInputError(f"positive must be a class index in [0, {c - 1}], got {positive}")
    return pos


def _one_vs_rest(name: str, fn, y: np.ndarray, p: np.ndarray, need_negatives: bool, average: str | None) -> np.ndarray:
    """Per-class one-vs-rest ``fn(y == k, p[:, k])``, NaN (with one warning) where the class makes it undefined."""
    c = p.shape[1]
    out = np.full(c, np.nan)
    for k in range(c):
        t = y == k
        if t.any() and (not need_negatives or not t.all()):
            out[k] = fn(t, p[:, k])
    missing = np.flatnonzero(np.isnan(out)).tolist()
    if missing:
        why = "class absent from y_true" + " or no negatives" * need_negatives
        warn_undefined(f"{name} of class(es) {missing} ({why})", average)
    return out


def _macro(values: np.ndarray, average: str | None) -> float | np.ndarray:
    if average is None:
        return values
    if average != "macro":
        raise MetricInputError(f"average must be 'macro' or None, got {average!r}")
    ok = np.isfinite(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def roc_auc(
    y_true: np.ndarray, proba: np.ndarray, positive: int | None = None, average: Literal["macro"] | None = "macro"
) -> float | np.ndarray:
    """Area under the ROC curve (Hanley & McNeil 1982) via ``sklearn.metrics.roc_auc_score``.

    Binary: AUC of ``proba[:, positive]``. Multi-class: one-vs-rest AUC per class and their unweighted mean over
    the classes present in ``y_true`` (equal to ``roc_auc_score(multi_class="ovr", average="macro")`` when all
    classes are present, which is what is then called).

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        positive: Positive class for the binary case (default 1).
        average: "macro" for a float; None for the (C,) per-class array (multi-class only).

    Returns:
        AUC in [0, 1]; NaN (with a warning) when fewer than two classes are present.
    """
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    c = p.shape[1]
    if c == 2:
        pos = _positive(positive, c)
        t = y == pos
        if t.all() or not t.any():
            warn_undefined("roc_auc (only one class present in y_true)")
            return float("nan")
        return float(skm.roc_auc_score(t, p[:, pos]))
    if average == "macro" and np.unique(y).size == c:
        return float(skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=np.arange(c)))
    return _macro(_one_vs_rest("roc_auc", skm.roc_auc_score, y, p, need_negatives=True, average=average), average)


def mauc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Hand & Till (2001) multi-class AUC: mean over class pairs of (A(i|j) + A(j|i)) / 2.

    Equals ``sklearn.metrics.roc_auc_score(multi_class="ovo", average="macro")``, which is used when all classes
    are present. When some are absent, the pairs are taken over the present classes only (with a warning).
    For C == 2 it is the ordinary AUC.

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.

    Returns:
        MAUC in [0, 1]; NaN when fewer than two classes are present.
    """
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    c = p.shape[1]
    if c == 2:
        return roc_auc(y, p)
    present = np.unique(y)
    if present.size == c:
        return float(skm.roc_auc_score(y, p, multi_class="ovo", average="macro", labels=np.arange(c)))
    missing = sorted(set(range(c)) - set(present.tolist()))
    if present.size < 2:
        warn_undefined("mauc (fewer than two classes present in y_true)")
        return float("nan")
    warn_undefined(f"mauc for pairs with class(es) {missing} (absent from y_true)", "pairwise")
    pair_aucs = []
    for i, j in itertools.combinations(present.tolist(), 2):
        m = (y == i) | (y == j)
        a_ij = skm.roc_auc_score(y[m] == i, p[m, i])
        a_ji = skm.roc_auc_score(y[m] == j, p[m, j])
        pair_aucs.append((a_ij + a_ji) / 2)
    return float(np.mean(pair_aucs))


def average_precision(
    y_true: np.ndarray, proba: np.ndarray, positive: int | None = None, average: Literal["macro"] | None = "macro"
) -> float | np.ndarray:
    """Average precision, the step-wise area under the precision-recall curve (``average_precision_score``).

    Binary: AP of ``proba[:, positive]``. Multi-class: one-vs-rest AP per class, unweighted mean over the classes
    present in ``y_true`` (equals ``average_precision_score(label_binarize(y), proba, average="macro")`` then).

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        positive: Positive class for the binary case (default 1).
        average: "macro" for a float; None for the (C,) per-class array (multi-class only).

    Returns:
        AP in [0, 1]; NaN (with a warning) for a class without positives.
    """
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    c = p.shape[1]
    if c == 2:
        pos = _positive(positive, c)
        t = y == pos
        if not t.any():
            warn_undefined("average_precision (no positive sample in y_true)")
            return float("nan")
        return float(skm.average_precision_score(t, p[:, pos]))
    per_class = _one_vs_rest("average_precision", skm.average_precision_score, y, p, False, average)
    return _macro(per_class, average)


def top_k_accuracy(y_true: np.ndarray, proba: np.ndarray, k: int = 2) -> float:
    """Fraction of samples whose true class is among the ``k`` most probable (``top_k_accuracy_score``).

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        k: Number of guesses allowed; k >= C gives 1.0.

    Returns:
        Top-k accuracy in [0, 1]. For C == 2 and k == 1 this is the argmax accuracy.
    """
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    if int(k) != k or k < 1:
        raise MetricInputError(f"k must be a positive integer, got {k}")
    c = p.shape[1]
    if k >= c:
        return 1.0
    if c == 2:
        return float(np.mean(np.argmax(p, axis=1) == y))
    return float(skm.top_k_accuracy_score(y, p, k=int(k), labels=np.arange(c)))


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (``sklearn.metrics.log_loss`` with ``labels=range(C)``).

    Passing all labels makes it work when some classes are absent from ``y_true``. Probabilities are clipped to
    machine epsilon by scikit-learn, so a confident miss costs about 36 nats rather than infinity.

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.

    Returns:
        Log loss (nats), >= 0.
    """
    p = check_proba(proba, y_true)
    return float(skm.log_loss(np.asarray(y_true).astype(np.int64), p, labels=np.arange(p.shape[1])))


def brier_score(
    y_true: np.ndarray,
    proba: np.ndarray,
    variant: Literal["multiclass", "binary"] = "multiclass",
    positive: int | None = None,
) -> float:
    """Brier score (Brier 1950).

    ``variant="multiclass"`` (default, any C): mean over samples of ``sum_k (p_k - onehot_k)^2``, range [0, 2];
    this is ``sklearn.metrics.brier_score_loss(y, proba, labels=range(C), scale_by_half=False)``, used here.
    ``variant="binary"`` (C == 2 only): mean of ``(p_positive - [y == positive])^2``, range [0, 1], equal to
    ``brier_score_loss(y == positive, proba[:, positive])``. For C == 2 the multiclass value is twice the binary.

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        variant: "multiclass" or "binary".
        positive: Positive class for the binary variant (default 1).

    Returns:
        Brier score, >= 0 (lower is better).
    """
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    c = p.shape[1]
    if variant == "multiclass":
        return float(skm.brier_score_loss(y, p, labels=np.arange(c), scale_by_half=False))
    if variant == "binary":
        if c != 2:
            raise MetricInputError(f"the binary Brier score needs 2 classes, got {c}")
        pos = _positive(positive, c)
        return float(skm.brier_score_loss(y == pos, p[:, pos]))
    raise MetricInputError(f"variant must be 'multiclass' or 'binary', got {variant!r}")
