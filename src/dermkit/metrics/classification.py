"""The full metric report of a classifier, as computed by ``dermkit evaluate``.

:func:`classification_metrics` gathers the functions of :mod:`dermkit.metrics.functional` and
:mod:`dermkit.metrics.calibration` into one JSON-ready dict; :func:`dermkit.reports.summary.format_summary` renders it
for a terminal.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import functional as F
from ._validation import MetricInputError, UndefinedMetricWarning, check_proba
from .calibration import expected_calibration_error
from .longtail import SHOT_FEW, SHOT_MANY, g_mean_spbl, shot_accuracy, shot_groups, weighted_pr_harmonic

__all__ = ["classification_metrics", "longtail_metrics"]

_PER_CLASS = ("precision", "recall", "f1", "specificity")


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    *,
    threshold: float | None = None,
    train_counts: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Compute every evaluation metric of a classifier in one JSON-ready dict.

    Predictions are ``argmax(proba)``, except in the binary case with a ``threshold``, where class 1 is predicted
    iff ``proba[:, 1] >= threshold``. Threshold-free metrics (AUCs, log loss, Brier, ECE) use ``proba``.

    Args:
        y_true: (N,) true class indices in ``0..C-1``.
        proba: (N, C) class probabilities.
        class_names: C names, in class-index order.
        threshold: Optional decision threshold in [0, 1]; binary only.
        train_counts: Optional (C,) training images per class: with C > 2 adds the many / medium / few-shot
            accuracies (:func:`~dermkit.metrics.longtail.shot_groups`' default thresholds).

    Returns:
        Dict with keys ``n``, ``accuracy``, ``balanced_accuracy``, ``macro`` and ``weighted`` (each with
        precision / recall / f1 / specificity), ``per_class`` (name -> precision / recall / f1 / specificity /
        support), ``confusion_matrix`` (``labels``, ``matrix`` rows true / columns predicted), ``roc_auc``
        (binary, or macro one-vs-rest), ``mauc`` (Hand & Till 2001; None for binary), ``average_precision``,
        ``g_mean``, ``log_loss``, ``brier`` (multi-class form, sum over classes; see
        :func:`~dermkit.metrics.functional.brier_score`), ``ece`` (15 bins), ``cohen_kappa``; when C > 2
        ``top2_accuracy`` and ``quadratic_kappa`` (quadratic weights: meaningful when the class order is the
        grade order, as for ordinal acne or severity grades), and the long-tail metrics ``g_mean_spbl`` and
        ``weighted_pr_harmonic`` (SPBL's corrected G-mean and its "MAUC", :mod:`dermkit.metrics.longtail`), plus with
        ``train_counts`` ``many_shot_accuracy``, ``medium_shot_accuracy``, ``few_shot_accuracy`` (None for a group
        without test images) and ``shots`` (classes per group, thresholds); ``threshold`` and ``undefined`` (list of
        ``"metric/class"`` or ``"metric"`` entries that are NaN; ``roc_auc/<class>``, ``mauc/<class>`` and
        ``average_precision/<class>`` name classes left out of the multi-class macro AUC, MAUC and AP). Values are
        Python ints / floats / lists; undefined values are ``float("nan")``. A single
        :class:`UndefinedMetricWarning` lists the undefined entries.

    Raises:
        MetricInputError: Bad shapes or ranges, a class-name count different from C, or a threshold that is
            outside [0, 1] or given for more than two classes.
    """
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    n, c = p.shape
    names, threshold = _checked_names_and_threshold(class_names, threshold, c)
    y_pred = F.predict(p, threshold)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        cm = F.confusion_matrix(y, y_pred, c)
        stats = F.per_class_from_confusion(cm)
        sup = stats["support"]
        out: dict[str, Any] = {
            "n": int(n),
            "accuracy": F.accuracy(y, y_pred),
            "balanced_accuracy": F.balanced_accuracy(y, y_pred),
            "macro": {k: F.nan_average(stats[k]) for k in _PER_CLASS},
            "weighted": {k: F.nan_average(stats[k], sup) for k in _PER_CLASS},
            "per_class": {
                name: {**{k: float(stats[k][i]) for k in _PER_CLASS}, "support": int(sup[i])}
                for i, name in enumerate(names)
            },
            "confusion_matrix": {"labels": names, "matrix": cm.tolist()},
            "roc_auc": float(F.roc_auc(y, p)),
            "mauc": F.mauc(y, p) if c > 2 else None,
            "average_precision": float(F.average_precision(y, p)),
            "g_mean": F.g_mean(y, y_pred, c),
            "log_loss": F.log_loss(y, p),
            "brier": F.brier_score(y, p),
            "ece": expected_calibration_error(y, p),
            "cohen_kappa": F.cohen_kappa(y, y_pred, c),
        }
        if c > 2:
            out["top2_accuracy"] = F.top_k_accuracy(y, p, k=2)
            out["quadratic_kappa"] = F.cohen_kappa(y, y_pred, c, weights="quadratic")
            out.update(longtail_metrics(y, y_pred, c, train_counts))
    out["threshold"] = threshold
    out["undefined"] = undefined = _undefined_entries(out, y, p, names)
    if undefined:
        warnings.warn(f"undefined metrics set to nan: {', '.join(undefined)}", UndefinedMetricWarning, stacklevel=2)
    return out


def _checked_names_and_threshold(
    class_names: Sequence[str], threshold: float | None, num_classes: int
) -> tuple[list[str], float | None]:
    """The class names as strings and the threshold as a float, or :class:`MetricInputError` naming the problem."""
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise MetricInputError(f"got {len(names)} class names for {num_classes} probability columns")
    if len(set(names)) != num_classes:
        raise MetricInputError(f"class names must be unique, got {names}")
    if threshold is None:
        return names, None
    if num_classes != 2:
        raise MetricInputError(f"threshold is only supported for binary classification, got {num_classes} classes")
    if not 0.0 <= float(threshold) <= 1.0:
        raise MetricInputError(f"threshold must lie in [0, 1], got {threshold}")
    return names, float(threshold)


def _undefined_entries(out: dict[str, Any], y: np.ndarray, p: np.ndarray, names: list[str]) -> list[str]:
    """The ``"metric/class"`` and ``"metric"`` entries of ``out`` that are NaN, plus the classes the multi-class macro
    AUC, MAUC and AP leave out (one-vs-rest AUC / AP are undefined for a class absent from ``y``)."""
    undefined = [
        f"{metric}/{name}" for name, row in out["per_class"].items() for metric in _PER_CLASS if math.isnan(row[metric])
    ]
    for group in ("macro", "weighted"):
        undefined += [f"{group}/{k}" for k, v in out[group].items() if math.isnan(v)]
    undefined += [k for k, v in out.items() if isinstance(v, float) and math.isnan(v)]
    if len(names) > 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            ovr_auc, ovr_ap = F.roc_auc(y, p, average=None), F.average_precision(y, p, average=None)
        undefined += [f"roc_auc/{names[i]}" for i in np.flatnonzero(np.isnan(ovr_auc))]
        undefined += [f"mauc/{names[i]}" for i in np.flatnonzero(np.bincount(y, minlength=len(names)) == 0)]
        undefined += [f"average_precision/{names[i]}" for i in np.flatnonzero(np.isnan(ovr_ap))]
    return undefined


def longtail_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, train_counts: Sequence[int] | None = None
) -> dict[str, Any]:
    """The long-tail metrics of a multi-class prediction (see :func:`classification_metrics`).

    Raises:
        MetricInputError: ``train_counts`` of another length than ``num_classes``.
    """
    out: dict[str, Any] = {
        "g_mean_spbl": g_mean_spbl(y_true, y_pred, num_classes),
        "weighted_pr_harmonic": weighted_pr_harmonic(y_true, y_pred, num_classes),
    }
    if train_counts is None:
        return out
    if len(train_counts) != num_classes:
        raise MetricInputError(f"train_counts has {len(train_counts)} values for {num_classes} classes")
    groups = shot_groups(np.asarray(train_counts))
    out.update({f"{name}_shot_accuracy": value for name, value in shot_accuracy(y_true, y_pred, groups).items()})
    out["shots"] = {"classes": {name: len(members) for name, members in groups.items()}, "many_above": SHOT_MANY,
                    "few_below": SHOT_FEW}  # fmt: skip
    return out
