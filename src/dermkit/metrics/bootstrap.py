"""Percentile bootstrap confidence intervals for any metric, optionally resampling whole patients.

References: B. Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 1979; B. Efron &
R. Tibshirani, "An Introduction to the Bootstrap", 1993 (percentile interval, ch. 13); cluster / case resampling
of groups: A. C. Davison & D. V. Hinkley, "Bootstrap Methods and their Application", 1997, Sec. 3.8.
Scikit-learn has no bootstrap (``scipy.stats.bootstrap`` has no cluster resampling), so it is written here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import functional as F
from ._validation import MetricInputError, check_proba
from .calibration import expected_calibration_error

__all__ = ["METRICS", "bootstrap_ci", "bootstrap_metrics", "resolve_metric"]

MetricFn = Callable[[np.ndarray, np.ndarray], float]


@runtime_checkable
class WeightedMetrics(Protocol):
    """Named metrics that can also be prepared once on ``(y_true, proba)`` and then evaluated under row weights
    (``weighted(y, p)(w) -> {name: value}``, ``w=None`` meaning each row once): the bootstrap's fast path."""

    def weighted(self, y_true: np.ndarray, proba: np.ndarray) -> Callable[..., Mapping[str, float]]: ...


def _labels(fn):
    """Adapt a label metric ``fn(y_true, y_pred, num_classes)`` to ``(y_true, proba)`` with argmax predictions."""
    return lambda y, p: fn(y, p.argmax(axis=1), p.shape[1])


METRICS: dict[str, MetricFn] = {
    "accuracy": lambda y, p: F.accuracy(y, p.argmax(axis=1)),
    "balanced_accuracy": lambda y, p: F.balanced_accuracy(y, p.argmax(axis=1)),
    "macro_precision": _labels(lambda y, yp, c: F.precision(y, yp, c, average="macro")),
    "macro_recall": _labels(lambda y, yp, c: F.recall(y, yp, c, average="macro")),
    "macro_f1": _labels(lambda y, yp, c: F.f1(y, yp, c, average="macro")),
    "macro_specificity": _labels(lambda y, yp, c: F.specificity(y, yp, c, average="macro")),
    "g_mean": _labels(F.g_mean),
    "cohen_kappa": _labels(F.cohen_kappa),
    "roc_auc": F.roc_auc,
    "mauc": F.mauc,
    "average_precision": F.average_precision,
    "top2_accuracy": lambda y, p: F.top_k_accuracy(y, p, k=2),
    "log_loss": F.log_loss,
    "brier": F.brier_score,
    "ece": expected_calibration_error,
}
"""Metrics available by name; each maps ``(y_true, proba)`` to a float (argmax predictions where needed)."""


def resolve_metric(metric: str | MetricFn) -> tuple[str | None, MetricFn]:
    """Return ``(name or None, function)`` for a metric name from :data:`METRICS` or a callable.

    Raises:
        MetricInputError: Unknown name; the message lists the valid ones.
    """
    if callable(metric):
        return None, metric
    if metric not in METRICS:
        raise MetricInputError(f"unknown metric {metric!r}; valid metrics: {', '.join(sorted(METRICS))}")
    return metric, METRICS[metric]


def _cluster_codes(groups: Sequence[Any]) -> np.ndarray:
    """Integer code per row; a row without an id (None, NaN, "") is a cluster of its own, never one shared cluster."""
    codes: dict[str, int] = {}
    out = np.empty(len(groups), dtype=np.int64)
    for row, value in enumerate(groups):
        missing = _is_missing(value)
        out[row] = codes.setdefault(f"\0row {row}" if missing else str(value), len(codes))
    return out


def _is_missing(value: Any) -> bool:
    """None, "", NaN of any float type, or pandas' NA: no patient id."""
    if value is None:
        return True
    try:
        return bool(value != value) or value == ""  # NaN is the one value unequal to itself
    except (TypeError, ValueError):  # pandas.NA and other values that refuse comparison
        return True


def _group_layout(groups: Sequence[Any] | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, order, starts, counts): rows of group g are ``order[starts[g]:starts[g] + counts[g]]``."""
    if groups is None:
        codes = np.arange(n)
    else:
        shape = np.shape(groups)
        if len(shape) != 1 or shape[0] != n:
            raise MetricInputError(f"groups must have shape ({n},), got {shape}")
        codes = _cluster_codes(groups)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=1)
    starts = np.cumsum(counts) - counts
    return codes, order, starts, counts


def _rows_of(draw: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row indices of the groups in ``draw`` (with repetition), concatenated, without a Python loop."""
    lens = counts[draw]
    ends = np.cumsum(lens)
    pos = np.arange(ends[-1]) + np.repeat(starts[draw] - (ends - lens), lens)
    return order[pos]


def bootstrap_metrics(
    functions: Mapping[str, MetricFn],
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Point estimate and percentile interval of every metric, all computed on the same resamples.

    Each resample draws N rows with replacement or, with ``groups`` (patient ids), as many patients as there are,
    with replacement, taking all rows of each (cluster bootstrap): correlated images of one patient stay together.
    Rows without a patient id count as patients of their own. Resamples where a metric is NaN (one class only...)
    are dropped for that metric.

    Args:
        functions: name -> ``fn(y_true (N,), proba (N, C)) -> float``, NaN (not an exception) when undefined; a
            :class:`WeightedMetrics` mapping (the headline metrics) is evaluated as row weights instead of copies.
        y_true: (N,) class indices.
        proba: (N, C) probabilities.
        n_resamples: bootstrap resamples B (0 gives point estimates only, with null bounds).
        confidence: two-sided level in (0, 1); the interval is the (1-c)/2 and (1+c)/2 quantiles.
        groups: (N,) patient ids for a cluster bootstrap (None: resample images).
        seed: seed of ``numpy.random.default_rng``; equal seeds give equal results.
        progress: called as ``progress(done, n_resamples)`` after each resample.

    Returns:
        ``{name: {"point", "low", "high", "n_resamples"}}`` (valid resamples; bounds None when there are none).
    """
    if int(n_resamples) != n_resamples or n_resamples < 0:
        raise MetricInputError(f"n_resamples must be a non-negative integer, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise MetricInputError(f"confidence must lie in (0, 1), got {confidence}")
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    codes, order, starts, counts = _group_layout(groups, y.size)
    values = {name: np.full(int(n_resamples), np.nan) for name in functions}
    weighted = functions.weighted(y, p) if isinstance(functions, WeightedMetrics) and y.size else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-resample undefined-metric noise; counted in n_resamples instead
        points = weighted() if weighted is not None else {name: float(fn(y, p)) for name, fn in functions.items()}
        points = {name: float(points[name]) for name in functions}
        rng = np.random.default_rng(seed)
        for r in range(int(n_resamples) if y.size else 0):
            draw = rng.integers(0, counts.size, counts.size)
            if weighted is not None:  # the resample as weights: how often each row was drawn
                resample = weighted(np.bincount(draw, minlength=counts.size)[codes].astype(np.float64))
            else:
                rows = _rows_of(draw, order, starts, counts)
                resample = {name: fn(y[rows], p[rows]) for name, fn in functions.items()}
            for name in functions:
                values[name][r] = resample[name]
            if progress is not None:
                progress(r + 1, int(n_resamples))
    alpha = (1.0 - confidence) / 2
    result = {}
    for name, point in points.items():
        valid = values[name][np.isfinite(values[name])]
        low, high = (float(v) for v in np.quantile(valid, [alpha, 1 - alpha])) if valid.size else (None, None)
        result[name] = {"point": point, "low": low, "high": high, "n_resamples": int(valid.size)}
    return result


def bootstrap_ci(
    metric: str | MetricFn,
    y_true: np.ndarray,
    proba: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Percentile bootstrap confidence interval of one metric (see :func:`bootstrap_metrics`).

    Args:
        metric: A name from :data:`METRICS` or a callable ``(y_true (N,), proba (N, C)) -> float``.
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        n_resamples: Number of bootstrap resamples B (>= 1).
        confidence: Two-sided level in (0, 1).
        groups: Optional (N,) patient ids for the cluster bootstrap.
        seed: Random seed.

    Returns:
        ``{"point", "low", "high", "n_resamples" (valid ones), "n_requested", "confidence"}`` as Python numbers;
        low/high are NaN, with a warning, if no resample is valid.
    """
    name, fn = resolve_metric(metric)
    p = check_proba(proba, y_true)
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise MetricInputError(f"n_resamples must be a positive integer, got {n_resamples}")
    key = name or "metric"
    ci = bootstrap_metrics({key: fn}, y_true, p, n_resamples=n_resamples, confidence=confidence, groups=groups,
                           seed=seed)[key]  # fmt: skip
    if ci["low"] is None:
        ci["low"] = ci["high"] = float("nan")
        warnings.warn("the metric is undefined on every bootstrap resample", F.UndefinedMetricWarning, stacklevel=2)
    return {**ci, "n_requested": int(n_resamples), "confidence": float(confidence)}
