"""Headline metrics with bootstrap confidence intervals, overall and per subgroup.

Every resample is drawn once and all headline metrics are computed on it (percentile bootstrap, Efron & Tibshirani
1993; cluster bootstrap over patients when ``groups`` is given, Field & Welsh 2007). A resample is a vector of row
weights on predictions sorted once (:mod:`dermkit.metrics.weighted`), checked against scikit-learn in the tests, so
1,000 resamples of ten thousand images take seconds.

Subgroup reports follow the fairness-audit practice of reporting every metric per group with its interval and the gap
between the best and the worst group (e.g. Fitzpatrick skin types; Daneshjou et al., Science Advances 2022).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from dermkit.metrics.bootstrap import MetricFn, bootstrap_metrics
from dermkit.metrics.names import lower_is_better
from dermkit.metrics.weighted import RankedScores, WeightedHeadline, headline_names

__all__ = ["HeadlineFunctions", "binary_auc", "bootstrap_metrics", "headline_functions", "subgroup_metrics"]


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic with midranks for ties (== sklearn's ``roc_auc_score``)."""
    return RankedScores(np.asarray(score, dtype=np.float64), np.asarray(positive, dtype=bool)).auc()


class HeadlineFunctions(Mapping[str, MetricFn]):
    """The headline metrics by name, each ``fn(y_true, proba) -> float``; see :func:`headline_functions`.

    :meth:`weighted` prepares all of them on one set of predictions for evaluation under row weights, which is how
    :func:`bootstrap_metrics` computes a resample without copying or re-sorting the rows.
    """

    def __init__(self, num_classes: int, threshold: float | None = None) -> None:
        self.num_classes = num_classes
        self.threshold = threshold

    def weighted(self, y_true: np.ndarray, proba: np.ndarray) -> WeightedHeadline:
        return WeightedHeadline(y_true, proba, self.threshold)

    def __getitem__(self, name: str) -> MetricFn:
        if name not in headline_names(self.num_classes):
            raise KeyError(name)
        return lambda y, p: self.weighted(y, p)()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(headline_names(self.num_classes))

    def __len__(self) -> int:
        return len(headline_names(self.num_classes))


def headline_functions(num_classes: int, threshold: float | None = None) -> HeadlineFunctions:
    """The headline metrics of a C-class problem as ``fn(y_true, proba) -> float`` (NaN when undefined).

    Binary: accuracy, balanced accuracy, sensitivity and specificity (at ``threshold``), G-mean, ROC-AUC, macro F1,
    average precision, Cohen's kappa, precision at recall >= 0.999 / 0.99 / 0.95 (``precision_at_recall_<level>``),
    log loss, Brier score, ECE. Multi-class: accuracy, balanced accuracy, macro F1, ROC-AUC (macro one-vs-rest),
    G-mean, average precision (macro over present classes), Cohen's kappa, log loss, Brier score, ECE, and MAUC (Hand &
    Till 2001) up to 10 classes (its pairwise cost grows with C squared). Each equals the value in ``metrics.json``.
    """
    return HeadlineFunctions(num_classes, threshold)


def subgroup_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    values: Sequence[str | None],
    functions: Mapping[str, MetricFn],
    *,
    n_resamples: int = 0,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Every metric per subgroup (rows with an empty value are left out) and the best-to-worst gap.

    ``progress(done, total)`` counts resamples over all subgroups (subgroups when ``n_resamples`` is 0).

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
    values_sorted = sorted({key for key in keys if key}, key=_natural)
    step = max(int(n_resamples), 1)  # progress units per subgroup
    for index, value in enumerate(values_sorted):
        rows = keys == value
        inner = None if progress is None else partial(_offset, progress, index * step, len(values_sorted) * step)
        report["groups"][value] = {
            "n": int(rows.sum()),
            "metrics": bootstrap_metrics(functions, y[rows], p[rows], n_resamples=n_resamples,
                                         groups=None if patient is None else patient[rows], seed=seed, progress=inner),
        }  # fmt: skip
        if progress is not None:
            progress((index + 1) * step, len(values_sorted) * step)
    for name in functions:
        points = {v: g["metrics"][name]["point"] for v, g in report["groups"].items()}
        points = {v: x for v, x in points.items() if np.isfinite(x)}
        if len(points) < 2:
            continue
        best, worst = (min, max) if lower_is_better(name) else (max, min)
        best_group, worst_group = best(points, key=points.get), worst(points, key=points.get)
        if points[best_group] == points[worst_group]:
            continue  # every group equal: there is no worst group to point at
        report["worst_gap"][name] = {"gap": abs(points[best_group] - points[worst_group]), "best": best_group,
                                     "worst": worst_group}  # fmt: skip
    return report


def _offset(progress: Callable[[int, int], None], base: int, total: int, done: int, _: int) -> None:
    progress(base + done, total)


def _natural(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)
