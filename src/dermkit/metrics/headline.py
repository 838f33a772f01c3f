"""Headline metrics with bootstrap confidence intervals, overall and per subgroup.

Every resample is drawn once and all headline metrics are computed on it (percentile bootstrap, Efron & Tibshirani
1993; cluster bootstrap over patients when ``groups`` is given, Field & Welsh 2007). The per-resample metrics are
plain numpy (a rank-based AUC, confusion-matrix counts), checked against scikit-learn in the tests, so 1,000
resamples of a few thousand images take seconds.

Subgroup reports follow the fairness-audit practice of reporting every metric per group with its interval and the gap
between the best and the worst group (e.g. Fitzpatrick skin types; Daneshjou et al., Science Advances 2022).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from dermkit.metrics import functional as F
from dermkit.metrics.bootstrap import bootstrap_metrics
from dermkit.metrics.calibration import expected_calibration_error

MetricFn = Callable[[np.ndarray, np.ndarray], float]
__all__ = ["binary_auc", "bootstrap_metrics", "headline_functions", "subgroup_metrics"]
LOWER_IS_BETTER = frozenset({"log_loss", "ece", "brier"})
OPERATING_LEVELS = (0.999, 0.99, 0.95)  # recall floors of the binary operating points (as in metrics.json)
_EPS = 1e-15


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic with midranks for ties (== sklearn's ``roc_auc_score``)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(score.size)
    # Midranks: every member of a run of equal scores gets the mean of the run's ranks.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [score.size]))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def precision_recall_points(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold, highest threshold first (sklearn's PR curve
    without its (1, 0) end point); empty arrays when there are no positives."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(-score, kind="mergesort")
    sorted_scores, hits = score[order], positive[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(sorted_scores)), score.size - 1]  # a threshold per distinct score
    tp = np.cumsum(hits)[last_of_run]
    return tp / (last_of_run + 1.0), tp / n_pos


def binary_average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """Step-wise area under the PR curve, ``sum (R_k - R_k-1) P_k`` (== sklearn's ``average_precision_score``)."""
    precision, recall = precision_recall_points(positive, score)
    if not precision.size:
        return float("nan")
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_at_recall_point(positive: np.ndarray, score: np.ndarray, min_recall: float) -> float:
    """Highest precision over thresholds with recall >= ``min_recall`` (see ``operating_point.precision_at_recall``)."""
    precision, recall = precision_recall_points(positive, score)
    ok = recall >= min_recall - 1e-12
    return float(precision[ok].max()) if ok.any() else float("nan")


def _kappa(cm: np.ndarray) -> float:
    """Cohen's kappa from a confusion matrix (== sklearn's unweighted ``cohen_kappa_score``)."""
    n = cm.sum()
    observed = np.trace(cm) / n
    expected = float(cm.sum(axis=0) @ cm.sum(axis=1)) / n**2
    return float((observed - expected) / (1.0 - expected)) if expected < 1.0 else float("nan")


def _predictions(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is not None and proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(np.int64)
    return proba.argmax(axis=1)


def _confusion(y: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix, rows true, columns predicted."""
    cm = np.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    return cm.reshape(num_classes, num_classes)


def headline_functions(num_classes: int, threshold: float | None = None) -> dict[str, MetricFn]:
    """The headline metrics of a C-class problem as ``fn(y_true, proba) -> float`` (NaN when undefined).

    Binary: accuracy, balanced accuracy, sensitivity and specificity (at ``threshold``), G-mean, ROC-AUC, macro F1,
    average precision, Cohen's kappa, precision at recall >= 0.999 / 0.99 / 0.95 (``precision_at_recall_<level>``),
    log loss, Brier score, ECE. Multi-class: accuracy, balanced accuracy, macro F1, ROC-AUC (macro one-vs-rest),
    G-mean, average precision (macro over present classes), Cohen's kappa, log loss, Brier score, ECE, and MAUC (Hand &
    Till 2001) up to 10 classes (its pairwise cost grows with C squared). Each equals the value in ``metrics.json``.
    """

    # The conventions of metrics.json (functional.per_class_from_confusion): recall is NaN for an absent class,
    # F1 is NaN only for a class absent from both truth and predictions; averages skip NaN.
    def per_class(y: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
        return F.per_class_from_confusion(_confusion(y, _predictions(proba, threshold), num_classes))

    def macro_auc(y: np.ndarray, proba: np.ndarray) -> float:
        if num_classes == 2:
            return binary_auc(y == 1, proba[:, 1])
        values = [binary_auc(y == c, proba[:, c]) for c in range(num_classes) if (y == c).any()]
        return float(np.mean(values)) if len(values) > 1 else float("nan")

    def macro_ap(y: np.ndarray, proba: np.ndarray) -> float:
        if num_classes == 2:
            return binary_average_precision(y == 1, proba[:, 1])
        values = [binary_average_precision(y == c, proba[:, c]) for c in range(num_classes) if (y == c).any()]
        return float(np.mean(values)) if values else float("nan")

    def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
        return float(-np.log(np.clip(proba[np.arange(y.size), y], _EPS, 1.0)).mean())

    functions: dict[str, MetricFn] = {
        "accuracy": lambda y, p: float((_predictions(p, threshold) == y).mean()),
        "balanced_accuracy": lambda y, p: F.nan_average(per_class(y, p)["recall"]),
    }
    if num_classes == 2:
        functions["sensitivity"] = lambda y, p: float(per_class(y, p)["recall"][1])
        functions["specificity"] = lambda y, p: float(per_class(y, p)["recall"][0])
    functions["roc_auc"] = macro_auc
    functions["macro_f1"] = lambda y, p: F.nan_average(per_class(y, p)["f1"])
    functions["g_mean"] = lambda y, p: F.g_mean_of_recalls(per_class(y, p)["recall"])
    if 2 < num_classes <= 10:
        functions["mauc"] = lambda y, p: _hand_till(y, p, num_classes)
    functions["average_precision"] = macro_ap
    functions["cohen_kappa"] = lambda y, p: _kappa(_confusion(y, _predictions(p, threshold), num_classes))
    if num_classes == 2:
        for level in OPERATING_LEVELS:
            functions[f"precision_at_recall_{level}"] = partial(_precision_at, level=level)
    functions["log_loss"] = log_loss
    functions["brier"] = lambda y, p: float(np.sum((p - np.eye(num_classes)[y]) ** 2, axis=1).mean())
    functions["ece"] = lambda y, p: float(expected_calibration_error(y, p))
    return functions


def _precision_at(y: np.ndarray, proba: np.ndarray, level: float) -> float:
    return precision_at_recall_point(y == 1, proba[:, 1], level)


def _hand_till(y: np.ndarray, proba: np.ndarray, num_classes: int) -> float:
    present = [c for c in range(num_classes) if (y == c).any()]
    values = []
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            rows = (y == a) | (y == b)
            values.append((binary_auc(y[rows] == a, proba[rows, a]) + binary_auc(y[rows] == b, proba[rows, b])) / 2)
    return float(np.mean(values)) if values else float("nan")


def subgroup_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    values: Sequence[str | None],
    functions: Mapping[str, MetricFn],
    *,
    n_resamples: int = 0,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric per subgroup (rows with an empty value are left out) and the best-to-worst gap.

    Returns:
        ``{"groups": {value: {"n", "metrics": {name: {"point", "low", "high", ...}}}}, "worst_gap": {name: {"gap",
        "best", "worst"}}}``; the gap is > 0 (metrics equal in every group have no entry) and ``worst`` honours
        metrics where lower is better.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    keys = np.array(["" if value is None else str(value) for value in values], dtype=object)
    patient = None if groups is None else np.asarray(groups, dtype=object)
    report: dict[str, Any] = {"groups": {}, "worst_gap": {}}
    for value in sorted({key for key in keys if key}, key=_natural):
        rows = keys == value
        report["groups"][value] = {
            "n": int(rows.sum()),
            "metrics": bootstrap_metrics(functions, y[rows], p[rows], n_resamples=n_resamples,
                                         groups=None if patient is None else patient[rows], seed=seed),
        }  # fmt: skip
    for name in functions:
        points = {v: g["metrics"][name]["point"] for v, g in report["groups"].items()}
        points = {v: x for v, x in points.items() if np.isfinite(x)}
        if len(points) < 2:
            continue
        best, worst = (min, max) if name in LOWER_IS_BETTER else (max, min)
        best_group, worst_group = best(points, key=points.get), worst(points, key=points.get)
        if points[best_group] == points[worst_group]:
            continue  # every group equal: there is no worst group to point at
        report["worst_gap"][name] = {"gap": abs(points[best_group] - points[worst_group]), "best": best_group,
                                     "worst": worst_group}  # fmt: skip
    return report


def _natural(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)
