"""Operating points of a binary score: precision at a recall floor, specificity at a sensitivity floor, Youden.

Every function takes ``y_true`` (N,) class indices (``positive`` marks the positive class, default 1) and a 1-D
real ``score`` (N,) where higher means more positive, e.g. ``proba[:, 1]``. Candidate thresholds are the observed
score values; a sample is called positive iff ``score >= threshold``. The numbers returned are recomputed with
that rule on the given data, so applying the returned threshold reproduces them exactly. Curves come from
``sklearn.metrics.precision_recall_curve`` and ``roc_curve``; the constrained search on top is written here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sklearn import metrics as skm

from ._validation import MetricInputError, UndefinedMetricWarning, check_binary_scores, warn_undefined

__all__ = [
    "PrecisionAtRecall",
    "SpecificityAtSensitivity",
    "YoudenPoint",
    "operating_points",
    "precision_at_recall",
    "specificity_at_sensitivity",
    "youden_threshold",
]

_NAN = float("nan")
_EPS = 1e-12  # slack when comparing a rate k/P with a requested level


class PrecisionAtRecall(NamedTuple):
    precision: float
    threshold: float
    recall: float


class SpecificityAtSensitivity(NamedTuple):
    specificity: float
    threshold: float
    sensitivity: float


class YoudenPoint(NamedTuple):
    j: float
    threshold: float
    sensitivity: float
    specificity: float


def _check_level(level: float, name: str) -> float:
    if not 0.0 <= float(level) <= 1.0:
        raise MetricInputError(f"{name} must lie in [0, 1], got {level}")
    return float(level)


def _prepare(y_true, score, positive: int, need_negatives: bool, what: str) -> tuple[np.ndarray, np.ndarray] | None:
    y, s = check_binary_scores(y_true, score)
    t = y == positive
    if not t.any() or (need_negatives and t.all()):
        warn_undefined(f"{what} (y_true needs positives{' and negatives' * need_negatives})")
        return None
    return t, s


def _rates(t: np.ndarray, s: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(precision, recall/sensitivity, specificity) of ``s >= threshold``; NaN where undefined."""
    pred = s >= threshold
    tp, fp = int(np.sum(pred & t)), int(np.sum(pred & ~t))
    pos, neg = int(t.sum()), int((~t).sum())
    precision = tp / (tp + fp) if tp + fp else _NAN
    return precision, tp / pos if pos else _NAN, (neg - fp) / neg if neg else _NAN


def precision_at_recall(
    y_true: np.ndarray, score: np.ndarray, min_recall: float, positive: int = 1
) -> PrecisionAtRecall:
    """Highest precision over thresholds whose recall is at least ``min_recall``.

    The standard constrained operating point (e.g. "precision at 99 % sensitivity" in melanoma triage,
    Esteva et al. 2017). Ties in precision go to the higher threshold. ``min_recall = 1`` returns the lowest
    positive score, the highest threshold that still catches every positive.

    Args:
        y_true: (N,) class indices.
        score: (N,) real scores, higher = more positive.
        min_recall: Recall floor in [0, 1].
        positive: Class index counted as positive.

    Returns:
        ``(precision, threshold, recall)`` with ``recall >= min_recall``; all NaN (with a warning) if there are
        no positives.
    """
    min_recall = _check_level(min_recall, "min_recall")
    data = _prepare(y_true, score, positive, False, "precision_at_recall")
    if data is None:
        return PrecisionAtRecall(_NAN, _NAN, _NAN)
    t, s = data
    prec, rec, thr = skm.precision_recall_curve(t, s)
    prec, rec = prec[:-1], rec[:-1]  # drop the (precision=1, recall=0) end point, which has no threshold
    ok = rec >= min_recall - _EPS  # never empty: the lowest threshold has recall 1
    best = np.flatnonzero(ok & (prec == prec[ok].max()))[-1]  # thresholds increase: last = highest
    threshold = float(thr[best])
    precision, recall, _ = _rates(t, s, threshold)
    return PrecisionAtRecall(precision, threshold, recall)


def _roc(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fpr, tpr, thr = skm.roc_curve(t, s, drop_intermediate=False)
    return fpr[1:], tpr[1:], thr[1:]  # drop the (0, 0) start point at threshold +inf; thresholds decrease


def specificity_at_sensitivity(
    y_true: np.ndarray, score: np.ndarray, min_sensitivity: float, positive: int = 1
) -> SpecificityAtSensitivity:
    """Highest specificity over thresholds whose sensitivity is at least ``min_sensitivity``.

    Ties go to the higher threshold (specificity can only fall as the threshold falls, so this is the highest
    threshold meeting the floor).

    Args:
        y_true: (N,) class indices.
        score: (N,) real scores, higher = more positive.
        min_sensitivity: Sensitivity floor in [0, 1].
        positive: Class index counted as positive.

    Returns:
        ``(specificity, threshold, sensitivity)``; all NaN (with a warning) without both positives and negatives.
    """
    min_sensitivity = _check_level(min_sensitivity, "min_sensitivity")
    data = _prepare(y_true, score, positive, True, "specificity_at_sensitivity")
    if data is None:
        return SpecificityAtSensitivity(_NAN, _NAN, _NAN)
    t, s = data
    fpr, tpr, thr = _roc(t, s)
    ok = tpr >= min_sensitivity - _EPS
    best = np.flatnonzero(ok & (fpr == fpr[ok].min()))[0]  # thresholds decrease: first = highest
    threshold = float(thr[best])
    _, sensitivity, specificity = _rates(t, s, threshold)
    return SpecificityAtSensitivity(specificity, threshold, sensitivity)


def youden_threshold(y_true: np.ndarray, score: np.ndarray, positive: int = 1) -> YoudenPoint:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 (Youden 1950); ties to the higher one.

    Args:
        y_true: (N,) class indices.
        score: (N,) real scores, higher = more positive.
        positive: Class index counted as positive.

    Returns:
        ``(J, threshold, sensitivity, specificity)``; all NaN (with a warning) without both classes.
    """
    data = _prepare(y_true, score, positive, True, "youden_threshold")
    if data is None:
        return YoudenPoint(_NAN, _NAN, _NAN, _NAN)
    t, s = data
    fpr, tpr, thr = _roc(t, s)
    best = int(np.argmax(tpr - fpr))  # first maximum = highest threshold
    threshold = float(thr[best])
    _, sensitivity, specificity = _rates(t, s, threshold)
    return YoudenPoint(sensitivity + specificity - 1.0, threshold, sensitivity, specificity)


def operating_points(
    y_true: np.ndarray, score: np.ndarray, levels: Sequence[float] = (0.999, 0.99, 0.95), positive: int = 1
) -> dict[str, dict]:
    """All clean operating points in one JSON-ready nested dict.

    Args:
        y_true: (N,) class indices.
        score: (N,) real scores, higher = more positive.
        levels: Recall / sensitivity floors; keys are ``f"{level:g}"`` (e.g. "0.999").
        positive: Class index counted as positive.

    Returns:
        ``{"precision_at_recall": {"0.999": {"precision", "threshold", "recall"}, ...},
        "specificity_at_sensitivity": {"0.999": {"specificity", "threshold", "sensitivity"}, ...},
        "youden": {"j", "threshold", "sensitivity", "specificity"}}`` with Python floats (NaN if undefined; at
        most one :class:`UndefinedMetricWarning` per call).
    """
    for level in levels:
        _check_level(level, "level")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        out = {
            "precision_at_recall": {
                f"{lv:g}": precision_at_recall(y_true, score, lv, positive)._asdict() for lv in levels
            },
            "specificity_at_sensitivity": {
                f"{lv:g}": specificity_at_sensitivity(y_true, score, lv, positive)._asdict() for lv in levels
            },
            "youden": youden_threshold(y_true, score, positive)._asdict(),
        }
    messages = sorted({str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)})
    if messages:
        warnings.warn("; ".join(messages), UndefinedMetricWarning, stacklevel=2)
    for w in caught:  # pass on anything else unchanged
        if not issubclass(w.category, UndefinedMetricWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out
