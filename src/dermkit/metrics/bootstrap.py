"""Percentile bootstrap confidence intervals for any metric, optionally resampling whole patients.

References: B. Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 1979; B. Efron &
R. Tibshirani, "An Introduction to the Bootstrap", 1993 (percentile interval, ch. 13); cluster / case resampling
of groups: A. C. Davison & D. V. Hinkley, "Bootstrap Methods and their Application", 1997, Sec. 3.8.
Scikit-learn has no bootstrap (``scipy.stats.bootstrap`` has no cluster resampling), so it is written here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import functional as F
from ._validation import MetricInputError, check_proba
from .calibration import expected_calibration_error

__all__ = ["METRICS", "bootstrap_ci", "resolve_metric"]

MetricFn = Callable[[np.ndarray, np.ndarray], float]


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

# Metrics that are a mean of a per-row quantity: resampled by summing per-group totals, fully vectorised.
_ROWWISE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "accuracy": lambda y, p: (p.argmax(axis=1) == y).astype(np.float64),
    "brier": lambda y, p: np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1),
}

_CHUNK = 4_000_000  # max index entries per vectorised chunk


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


def _group_layout(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, order, starts, counts): rows of group g are ``order[starts[g]:starts[g] + counts[g]]``."""
    if groups is None:
        codes = np.arange(n)
    else:
        g = np.asarray(groups)
        if g.ndim != 1 or g.shape[0] != n:
            raise MetricInputError(f"groups must have shape ({n},), got {g.shape}")
        codes = np.unique(g, return_inverse=True)[1].ravel()
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    starts = np.cumsum(counts) - counts
    return codes, order, starts, counts


def _rows_of(draw: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row indices of the groups in ``draw`` (with repetition), concatenated, without a Python loop."""
    lens = counts[draw]
    ends = np.cumsum(lens)
    pos = np.arange(ends[-1]) + np.repeat(starts[draw] - (ends - lens), lens)
    return order[pos]


def bootstrap_ci(
    metric: str | MetricFn,
    y_true: np.ndarray,
    proba: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    groups: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Percentile bootstrap confidence interval of ``metric(y_true, proba)``.

    Each resample draws N rows with replacement, or, with ``groups`` (e.g. patient ids), draws as many groups
    as there are with replacement and takes all rows of each drawn group (cluster bootstrap), which keeps
    correlated images of one patient together. Resamples on which the metric is NaN (e.g. one class only)
    are dropped; ``n_resamples`` in the result counts the valid ones. Metrics that are row means ("accuracy",
    "brier") are resampled in a vectorised way from the same draws.

    Args:
        metric: A name from :data:`METRICS` or a callable ``(y_true (N,), proba (N, C)) -> float`` that returns
            NaN (rather than raising) when undefined.
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        n_resamples: Number of bootstrap resamples B.
        confidence: Two-sided level in (0, 1); the interval is the (1-c)/2 and (1+c)/2 quantiles.
        groups: Optional (N,) group labels (any sortable type) for the cluster bootstrap.
        seed: Seed of the ``numpy.random.default_rng`` generator; equal seeds give equal results.

    Returns:
        ``{"point": metric on all data, "low": ..., "high": ..., "n_resamples": valid resamples,
        "n_requested": B, "confidence": c}`` as Python numbers; low/high are NaN if no resample is valid.
    """
    name, fn = resolve_metric(metric)
    p = check_proba(proba, y_true)
    y = np.asarray(y_true).astype(np.int64)
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise MetricInputError(f"n_resamples must be a positive integer, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise MetricInputError(f"confidence must lie in (0, 1), got {confidence}")
    n_resamples = int(n_resamples)
    codes, order, starts, counts = _group_layout(groups, y.shape[0])
    n_groups = counts.shape[0]
    rng = np.random.default_rng(seed)
    point = float(fn(y, p))
    chunk = max(1, _CHUNK // n_groups)
    values = np.empty(n_resamples)
    done = 0
    if name in _ROWWISE:
        group_sum = np.bincount(codes, weights=_ROWWISE[name](y, p), minlength=n_groups)
        while done < n_resamples:
            draw = rng.integers(0, n_groups, size=(min(chunk, n_resamples - done), n_groups))
            values[done : done + draw.shape[0]] = group_sum[draw].sum(axis=1) / counts[draw].sum(axis=1)
            done += draw.shape[0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-resample undefined-metric noise; counted below instead
            while done < n_resamples:
                draw = rng.integers(0, n_groups, size=(min(chunk, n_resamples - done), n_groups))
                for row in draw:
                    idx = _rows_of(row, order, starts, counts)
                    values[done] = fn(y[idx], p[idx])
                    done += 1
    valid = values[np.isfinite(values)]
    alpha = 1.0 - confidence
    if valid.size:
        low, high = (float(v) for v in np.quantile(valid, [alpha / 2, 1 - alpha / 2]))
    else:
        low = high = float("nan")
        warnings.warn("the metric is undefined on every bootstrap resample", F.UndefinedMetricWarning, stacklevel=2)
    return {
        "point": point,
        "low": low,
        "high": high,
        "n_resamples": int(valid.size),
        "n_requested": n_resamples,
        "confidence": float(confidence),
    }
