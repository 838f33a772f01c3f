"""Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).

One scalar T > 0 divides the logits before the softmax (or sigmoid); it is fitted by minimising the negative
log-likelihood on held-out labelled data, changes no argmax decision, and is stored in ``model.json`` so predict,
evaluate and serve apply it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from dermkit.metrics._validation import MetricInputError, check_labels, check_proba
from dermkit.metrics.calibration import expected_calibration_error
from dermkit.metrics.functional import log_loss

TEMPERATURE_BOUNDS = (1e-2, 1e2)


def _check_logits(logits: np.ndarray, y_true: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return logits as float64, (N,) for a single binary logit or (N, C); labels as int64 when given."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim not in (1, 2) or (z.ndim == 2 and z.shape[1] < 2) or z.shape[0] == 0:
        raise MetricInputError(f"logits must have shape (N,), (N, 1) or (N, C) with C >= 2, got {np.shape(logits)}")
    if not np.all(np.isfinite(z)):
        raise MetricInputError("logits hold NaN or infinite values")
    if y_true is None:
        return z, None
    n_classes = 2 if z.ndim == 1 else z.shape[1]
    (y,) = check_labels(y_true, num_classes=n_classes)
    if y.shape[0] != z.shape[0]:
        raise MetricInputError(f"y_true has {y.shape[0]} rows but logits have {z.shape[0]}")
    return z, y


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise MetricInputError(f"temperature must be a positive finite number, got {temperature}")
    return t


def _nll(z: np.ndarray, y: np.ndarray, t: float) -> float:
    if z.ndim == 1:  # sigmoid: -log sigma(s z / T) with s = +1 for positives, -1 for negatives
        return float(np.mean(np.logaddexp(0.0, -(2.0 * y - 1.0) * z / t)))
    zt = z / t
    return float(np.mean(special.logsumexp(zt, axis=1) - zt[np.arange(zt.shape[0]), y]))


def temperature_nll(logits: np.ndarray, y_true: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / T)`` (or ``sigmoid`` for a single logit).

    Args:
        logits: (N, C) logits, or (N,) / (N, 1) binary logits of class 1.
        y_true: (N,) true class indices.
        temperature: T > 0.

    Returns:
        NLL in nats, computed stably with log-sum-exp.
    """
    z, y = _check_logits(logits, y_true)
    return _nll(z, y, _check_temperature(temperature))


def fit_temperature(logits: np.ndarray, y_true: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """Fit the temperature T > 0 minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017, Sec. 4.2).

    The NLL is convex in 1/T, hence unimodal in log T; it is minimised over log T with bounded Brent search
    (``scipy.optimize.minimize_scalar``). A single logit per sample ((N,) or (N, 1)) is treated as a sigmoid
    model. T > 1 softens over-confident predictions; argmax (accuracy) is unchanged.

    Args:
        logits: (N, C) logits, or (N,) / (N, 1) binary logits. Use :func:`logits_from_proba` if the model only
            outputs probabilities.
        y_true: (N,) true class indices.
        bounds: Search interval for T; the result is clipped to it (e.g. for separable data, where NLL keeps
            decreasing as T -> 0).

    Returns:
        The fitted temperature as a float.
    """
    z, y = _check_logits(logits, y_true)
    lo, hi = (_check_temperature(b) for b in bounds)
    if lo >= hi:
        raise MetricInputError(f"bounds must be increasing, got {bounds}")
    res = optimize.minimize_scalar(
        lambda u: _nll(z, y, float(np.exp(u))),
        bounds=(np.log(lo), np.log(hi)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(res.x))


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``softmax(logits / T)``.

    Args:
        logits: (N, C) logits, or (N,) / (N, 1) binary logits of class 1.
        temperature: T > 0, e.g. from :func:`fit_temperature`.

    Returns:
        (N, C) probabilities; for a single binary logit (N, 2) with columns ``[1 - sigmoid, sigmoid]``.
    """
    z, _ = _check_logits(logits, None)
    t = _check_temperature(temperature)
    if z.ndim == 1:
        p1 = special.expit(z / t)
        return np.stack([1.0 - p1, p1], axis=1)
    return special.softmax(z / t, axis=1)


def logits_from_proba(proba: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Logits for a model that only outputs probabilities: ``log(clip(proba, eps, 1))``.

    ``softmax(log p / T)`` is proportional to ``p ** (1 / T)``, so temperature scaling works on these. A 1-D
    ``proba`` of P(class 1) returns the binary log-odds ``log(p / (1 - p))`` instead (after clipping).

    Args:
        proba: (N, C) class probabilities, or (N,) probabilities of class 1.
        eps: Lower clip avoiding log(0).

    Returns:
        (N, C) log-probabilities, or (N,) log-odds.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
            raise MetricInputError("probabilities must lie in [0, 1] and proba must not be empty")
        p = np.clip(p, eps, 1.0 - eps)
        return np.log(p) - np.log1p(-p)
    return np.log(np.clip(check_proba(p), eps, 1.0))


@dataclass(frozen=True)
class CalibrationResult:
    """The fitted temperature and what it changed on the fitting data."""

    temperature: float
    n: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> CalibrationResult:
    """Fit a temperature on raw logits (N, K) and true labels (N,); unreadable rows (NaN) are ignored.

    Shape:
        logits: (N, C) for a softmax model, (N, 1) for a single-logit sigmoid model.
    """
    keep = np.isfinite(logits).all(axis=1)
    z, y = logits[keep], np.asarray(labels)[keep]
    z = z[:, 0] if z.shape[1] == 1 else z
    temperature = float(fit_temperature(z, y))
    before, after = apply_temperature(z, 1.0), apply_temperature(z, temperature)
    return CalibrationResult(
        temperature=temperature,
        n=int(y.size),
        nll_before=float(log_loss(y, before)),
        nll_after=float(log_loss(y, after)),
        ece_before=float(expected_calibration_error(y, before)),
        ece_after=float(expected_calibration_error(y, after)),
    )
