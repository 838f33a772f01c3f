"""Calibration metrics: expected calibration error and reliability diagrams (Guo et al. 2017).

Reference: C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger, "On Calibration of Modern Neural Networks", ICML 2017.
Scikit-learn has ``calibration_curve`` for one binary column only and no ECE or temperature scaling, so these
are written here; the top-label binning follows Guo et al. (and Naeini et al. 2015).
"""

from __future__ import annotations

import numpy as np

from ._validation import MetricInputError, check_proba

__all__ = ["confidence_bin_index", "expected_calibration_error", "reliability_bins"]

ECE_BINS = 15  # as in Guo et al.


def _check_n_bins(n_bins: int) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise MetricInputError(f"n_bins must be a positive integer, got {n_bins}")
    return int(n_bins)


def confidence_bin_index(confidence: np.ndarray, n_bins: int = ECE_BINS) -> np.ndarray:
    """Bin of each confidence among ``n_bins`` equal-width bins ``(m/M, (m+1)/M]`` (the first also holds 0)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)


def reliability_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Top-label reliability diagram data with equal-width confidence bins (Guo et al. 2017, Sec. 2).

    Each sample contributes its confidence ``max_k proba[k]`` and whether ``argmax`` is correct. Bin ``m`` is
    the interval ``(m/M, (m+1)/M]`` (the first bin also holds confidence 0).

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        n_bins: M, number of equal-width bins on [0, 1].

    Returns:
        Dict with ``bin_edges`` (M+1,), ``mean_confidence`` (M,), ``accuracy`` (M,) (both NaN for empty bins)
        and ``count`` (M,) int.
    """
    p = check_proba(proba, y_true)
    m = _check_n_bins(n_bins)
    y = np.asarray(y_true).astype(np.int64)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, m + 1)
    idx = confidence_bin_index(conf, m)
    count = np.bincount(idx, minlength=m)
    nonempty = count > 0
    mean_conf = np.full(m, np.nan)
    acc = np.full(m, np.nan)
    mean_conf[nonempty] = np.bincount(idx, weights=conf, minlength=m)[nonempty] / count[nonempty]
    acc[nonempty] = np.bincount(idx, weights=correct, minlength=m)[nonempty] / count[nonempty]
    return {"bin_edges": edges, "mean_confidence": mean_conf, "accuracy": acc, "count": count.astype(np.int64)}


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error ``sum_m |B_m|/N * |acc(B_m) - conf(B_m)|`` (Guo et al. 2017, Eq. 3).

    Top-label confidence, ``n_bins`` equal-width bins as in :func:`reliability_bins`.

    Args:
        y_true: (N,) true class indices.
        proba: (N, C) class probabilities.
        n_bins: Number of equal-width bins (15 as in Guo et al.).

    Returns:
        ECE in [0, 1].
    """
    bins = reliability_bins(y_true, proba, n_bins)
    count = bins["count"]
    ok = count > 0
    gap = np.abs(bins["accuracy"][ok] - bins["mean_confidence"][ok])
    return float(np.sum(count[ok] * gap) / count.sum())
