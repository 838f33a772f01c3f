"""Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).

One scalar T > 0 divides the logits before the softmax (or sigmoid); it is fitted by minimising the negative
log-likelihood on held-out labelled data, changes no argmax decision, and is stored in ``model.json`` so predict,
evaluate and serve apply it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermkit.metrics.calibration import apply_temperature, expected_calibration_error, fit_temperature
from dermkit.metrics.functional import log_loss


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
