"""Input checks and the undefined-metric warning shared by the metric modules.

Public names are re-exported from :mod:`dermkit.metrics.functional`; import them from there.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from dermkit.errors import DermkitError

_PROBA_TOL = 1e-6  # slack for values just outside [0, 1] (float32 softmax)
_SUM_TOL = 1e-3  # slack for row sums; rows off by more than _RENORM_TOL are renormalised afterwards
_RENORM_TOL = 1e-9
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on the given data (e.g. recall of an absent class) and was set to NaN."""


class MetricInputError(DermkitError, ValueError):
    """Metric inputs with the wrong shape, type or range; the message is one line."""


def warn_undefined(what: str, average: str | None = None) -> None:
    """Emit an :class:`UndefinedMetricWarning` saying ``what`` is NaN (and how an average handles it).

    Args:
        what: Description of the undefined quantity, e.g. "recall of class(es) [2] (class absent from y_true)".
        average: Name of the average being taken, if any.
    """
    msg = f"{what} is undefined and set to nan"
    if average is not None:
        msg += f"; the {average} average uses the defined classes only"
    warnings.warn(msg, UndefinedMetricWarning, stacklevel=external_stacklevel())


def external_stacklevel() -> int:
    """``stacklevel`` for a warning raised in this package so that it points at the first caller outside it."""
    level, frame = 1, sys._getframe(1)  # our caller, the function calling warnings.warn, is stacklevel 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    return level


def check_labels(*arrays: np.ndarray, num_classes: int | None = None) -> tuple[np.ndarray, ...]:
    """Validate 1-D arrays of class indices of equal length.

    Args:
        *arrays: Each (N,) of integer class indices (integer-valued floats are accepted).
        num_classes: If given, every label must be below it.

    Returns:
        The arrays as int64.

    Raises:
        MetricInputError: Wrong dimension, empty, unequal lengths, non-integer, negative or too-large labels.
    """
    names = ("y_true", "y_pred")
    out = []
    for i, arr in enumerate(arrays):
        name = names[i] if i < len(names) else f"labels[{i}]"
        a = np.asarray(arr)
        if a.ndim != 1:
            raise MetricInputError(f"{name} must be 1-D of shape (N,), got shape {a.shape}")
        if a.size == 0:
            raise MetricInputError(f"{name} is empty")
        if a.dtype.kind == "b":
            a = a.astype(np.int64)
        if a.dtype.kind not in "iu" and (a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a != np.round(a))):
            raise MetricInputError(f"{name} must hold integer class indices, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if a.min() < 0:
            raise MetricInputError(f"{name} holds a negative class index ({a.min()})")
        if num_classes is not None and a.max() >= num_classes:
            raise MetricInputError(f"{name} holds class index {a.max()} but there are only {num_classes} classes")
        out.append(a)
    if len({a.shape[0] for a in out}) > 1:
        shapes = ", ".join(f"{names[i] if i < 2 else i}: {a.shape[0]}" for i, a in enumerate(out))
        raise MetricInputError(f"label arrays differ in length ({shapes})")
    return tuple(out)


def infer_num_classes(num_classes: int | None, *arrays: np.ndarray) -> int:
    """Return ``num_classes`` or, when None, one more than the largest label in ``arrays``."""
    if num_classes is not None:
        if num_classes < 1:
            raise MetricInputError(f"num_classes must be >= 1, got {num_classes}")
        return int(num_classes)
    return int(max(int(np.max(a)) for a in arrays)) + 1


def check_proba(proba: np.ndarray, y_true: np.ndarray | None = None) -> np.ndarray:
    """Validate class probabilities and, optionally, the matching labels.

    Args:
        proba: (N, C) probabilities with C >= 2, values in [0, 1], rows summing to 1 (tolerance 1e-3).
        y_true: Optional (N,) class indices, each < C.

    Returns:
        ``proba`` as float64, clipped to [0, 1]; rows whose sum is off by more than 1e-9 are renormalised (so
        scikit-learn's own sum check passes), other values are left bit-identical.

    Raises:
        MetricInputError: Wrong shape, non-finite values, values outside [0, 1], rows not summing to 1, or a
            length / class-count mismatch with ``y_true``.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise MetricInputError(f"proba must have shape (N, C) with C >= 2, got shape {p.shape}")
    if p.shape[0] == 0:
        raise MetricInputError("proba is empty")
    if not np.all(np.isfinite(p)):
        raise MetricInputError("proba holds NaN or infinite values")
    if p.min() < -_PROBA_TOL or p.max() > 1 + _PROBA_TOL:
        raise MetricInputError(f"probabilities must lie in [0, 1], got range [{p.min():.4g}, {p.max():.4g}]")
    sums = p.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > _SUM_TOL):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise MetricInputError(f"proba rows must sum to 1, row {bad} sums to {sums[bad]:.6g}")
    p = np.clip(p, 0.0, 1.0)
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > _RENORM_TOL  # renormalise only these rows, so exact ties in the input survive
    if off.any():
        p[off] /= sums[off, None]
    if y_true is not None:
        (y,) = check_labels(y_true)
        if y.shape[0] != p.shape[0]:
            raise MetricInputError(f"y_true has {y.shape[0]} rows but proba has {p.shape[0]}")
        if y.max() >= p.shape[1]:
            raise MetricInputError(f"y_true holds class index {y.max()} but proba has only {p.shape[1]} columns")
    return p


def check_binary_scores(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels and a 1-D real score of the same length (for threshold / operating-point search).

    Args:
        y_true: (N,) class indices.
        score: (N,) finite real scores, higher meaning more positive (e.g. ``proba[:, 1]``).

    Returns:
        ``(y_true as int64, score as float64)``.
    """
    (y,) = check_labels(y_true)
    s = np.asarray(score)
    if s.ndim != 1:
        raise MetricInputError(f"score must be 1-D of shape (N,), got shape {s.shape}; pass e.g. proba[:, 1]")
    if s.shape[0] != y.shape[0]:
        raise MetricInputError(f"y_true has {y.shape[0]} rows but score has {s.shape[0]}")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise MetricInputError("score holds NaN or infinite values")
    return y, s
