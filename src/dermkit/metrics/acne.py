"""Acne severity grading and lesion counting metrics, as reported by LDL and LDS.

LDL: X. Wu et al., "Joint Acne Image Grading and Counting via Label Distribution Learning", ICCV 2019 (accuracy,
macro precision, sensitivity, specificity, Youden index; counting MAE and RMSE). LDS: K. Prokhorov and A. A. Kalinin,
"Improving Acne Image Grading with Label Distribution Smoothing", ISBI 2024, arXiv 2403.00268 (adds MCC).

Undefined values follow :mod:`dermkit.metrics.functional`: NaN, listed under ``undefined`` and reported in one
:class:`UndefinedMetricWarning`, never 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from . import functional as F
from ._validation import MetricInputError, UndefinedMetricWarning, check_labels, warn_undefined

__all__ = ["counting_metrics", "grading_metrics", "matthews_corrcoef"]

_PER_GRADE = {"precision": "precision", "sensitivity": "recall", "specificity": "specificity"}


def matthews_corrcoef(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
    """Matthews correlation coefficient (Matthews 1975; multi-class: Gorodkin 2004) via scikit-learn.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred when None.

    Returns:
        MCC in [-1, 1]; NaN (with a warning) when every true or every predicted label is the same class, where
        ``sklearn.metrics.matthews_corrcoef`` returns 0.
    """
    cm = F.confusion_matrix(y_true, y_pred, num_classes)
    n = cm.sum()
    if n * n == np.square(cm.sum(axis=0)).sum() or n * n == np.square(cm.sum(axis=1)).sum():
        warn_undefined("matthews_corrcoef (all true or all predicted labels are one class)")
        return float("nan")
    return float(skm.matthews_corrcoef(*check_labels(y_true, y_pred)))


def grading_metrics(y_true: np.ndarray, y_pred: np.ndarray, grade_names: Sequence[str]) -> dict[str, Any]:
    """Every grading metric of the acne papers in one JSON-ready dict.

    Sensitivity is recall and specificity TN / (TN + FP), one grade versus the rest (imbalanced-learn's
    definitions, as in the LDL code); the macro values are unweighted means over the grades where they are defined;
    ``youden`` = macro sensitivity + macro specificity - 1, as LDL reports it.

    Args:
        y_true: (N,) true grade indices in ``0..G-1``.
        y_pred: (N,) predicted grade indices.
        grade_names: G names in grade order (e.g. mild, moderate, severe, very_severe).

    Returns:
        ``n``, ``accuracy``, ``macro_precision``, ``macro_sensitivity``, ``macro_specificity``, ``youden``,
        ``quadratic_kappa`` (grades are ordinal), ``mcc``, ``per_grade`` (name -> precision / sensitivity /
        specificity / support), ``confusion_matrix`` (``labels`` and ``matrix``, a list of lists, rows true and
        columns predicted, as in :func:`dermkit.metrics.classification.classification_metrics`) and ``undefined``
        (``"metric/grade"`` or ``"metric"`` entries that are NaN).

    Raises:
        MetricInputError: Bad labels, or grade names that are not unique.
    """
    names = [str(name) for name in grade_names]
    if len(set(names)) != len(names) or not names:
        raise MetricInputError(f"grade names must be unique and non-empty, got {names}")
    y, p = check_labels(y_true, y_pred, num_classes=len(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        cm = F.confusion_matrix(y, p, len(names))
        stats = F.per_class_from_confusion(cm)
        macro = {key: F.nan_average(stats[stat]) for key, stat in _PER_GRADE.items()}
        out: dict[str, Any] = {
            "n": int(y.size),
            "accuracy": F.accuracy(y, p),
            **{f"macro_{key}": value for key, value in macro.items()},
            "youden": macro["sensitivity"] + macro["specificity"] - 1.0,
            "quadratic_kappa": F.cohen_kappa(y, p, len(names), weights="quadratic"),
            "mcc": matthews_corrcoef(y, p, len(names)),
            "per_grade": {
                name: {**{key: float(stats[stat][i]) for key, stat in _PER_GRADE.items()}, "support": int(sup)}
                for i, (name, sup) in enumerate(zip(names, stats["support"], strict=True))
            },
            "confusion_matrix": {"labels": names, "matrix": cm.tolist()},
        }
    undefined = [
        f"{key}/{name}" for name, row in out["per_grade"].items() for key in _PER_GRADE if math.isnan(row[key])
    ]
    undefined += [key for key, value in out.items() if isinstance(value, float) and math.isnan(value)]
    out["undefined"] = undefined
    if undefined:
        warnings.warn(f"undefined metrics set to nan: {', '.join(undefined)}", UndefinedMetricWarning, stacklevel=2)
    return out


def counting_metrics(true_counts: np.ndarray, pred_counts: np.ndarray) -> dict[str, float]:
    """Lesion-counting errors under their true names: ``mae``, ``mse`` and ``rmse`` (scikit-learn).

    The LDL and LDS code print the root mean squared error under the name "MSE"; compare their "MSE" with ``rmse``.

    Args:
        true_counts: (N,) annotated lesion counts.
        pred_counts: (N,) predicted lesion counts.

    Returns:
        ``{"mae", "mse", "rmse"}`` as floats.

    Raises:
        MetricInputError: Arrays that are not 1-D, empty, of different lengths or not finite.
    """
    t, p = (np.asarray(a, dtype=np.float64) for a in (true_counts, pred_counts))
    if t.ndim != 1 or p.shape != t.shape or t.size == 0:
        raise MetricInputError(f"counts must be two non-empty 1-D arrays of equal length, got {t.shape} and {p.shape}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise MetricInputError("counts hold NaN or infinite values")
    mse = float(skm.mean_squared_error(t, p))
    return {"mae": float(skm.mean_absolute_error(t, p)), "mse": mse, "rmse": math.sqrt(mse)}
