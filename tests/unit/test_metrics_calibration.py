"""dermkit.metrics.calibration (ECE, reliability bins) and dermkit.evaluation.calibration (temperature scaling)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import log_loss

from dermkit.evaluation.calibration import apply_temperature, fit_temperature, logits_from_proba, temperature_nll
from dermkit.metrics.calibration import expected_calibration_error, reliability_bins
from dermkit.metrics.functional import MetricInputError

HAND_PROBA = np.array(
    [
        [0.30, 0.25, 0.25, 0.20],  # conf .30, wrong  -> bin (0.2, 0.4]
        [0.50, 0.20, 0.20, 0.10],  # conf .50, right  -> bin (0.4, 0.6]
        [0.10, 0.55, 0.25, 0.10],  # conf .55, wrong  -> bin (0.4, 0.6]
        [0.90, 0.05, 0.03, 0.02],  # conf .90, right  -> bin (0.8, 1.0]
        [0.02, 0.03, 0.00, 0.95],  # conf .95, right  -> bin (0.8, 1.0]
    ]
)
HAND_Y = np.array([1, 0, 2, 0, 3])


def reference_ece(y: np.ndarray, proba: np.ndarray, n_bins: int) -> float:
    """Guo et al. (2017) Eq. 3 written as a loop over bins (lo, hi]."""
    conf, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        in_bin = (conf > lo) & (conf <= hi) if i else conf <= hi
        if in_bin.any():
            total += in_bin.sum() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return total / len(y)


def synthetic(seed: int, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """True logits and labels drawn from softmax(true logits): a perfectly calibrated model."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.0, size=(n, c))
    y = np.array([rng.choice(c, p=row) for row in softmax(z, axis=1)])
    return z, y


def test_ece_hand_computation() -> None:
    # gaps: bin1 |0 - .3| = .3 (n=1), bin2 |.5 - .525| = .025 (n=2), bin4 |1 - .925| = .075 (n=2)
    assert expected_calibration_error(HAND_Y, HAND_PROBA, n_bins=5) == pytest.approx((0.3 + 0.05 + 0.15) / 5)
    bins = reliability_bins(HAND_Y, HAND_PROBA, n_bins=5)
    np.testing.assert_allclose(bins["bin_edges"], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(bins["count"], [0, 1, 2, 0, 2])
    np.testing.assert_allclose(bins["mean_confidence"], [np.nan, 0.3, 0.525, np.nan, 0.925])
    np.testing.assert_allclose(bins["accuracy"], [np.nan, 0.0, 0.5, np.nan, 1.0])


def test_ece_zero_when_perfectly_calibrated() -> None:
    y = np.array([0, 1, 2, 1])
    assert expected_calibration_error(y, np.eye(3)[y]) == 0.0
    proba = np.tile([0.75, 0.25], (8, 1))  # confidence .75 and 6 of 8 correct
    assert expected_calibration_error(np.array([0, 0, 0, 1, 0, 0, 0, 1]), proba) == pytest.approx(0.0)


@pytest.mark.parametrize(("seed", "c", "n_bins"), [(0, 2, 15), (1, 3, 10), (2, 7, 15), (3, 4, 1)])
def test_ece_matches_reference(seed: int, c: int, n_bins: int) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(c, 0.5), size=500)
    y = rng.integers(0, c, size=500)
    assert expected_calibration_error(y, proba, n_bins) == pytest.approx(reference_ece(y, proba, n_bins))
    assert reliability_bins(y, proba, n_bins)["count"].sum() == 500


@pytest.mark.parametrize("c", [3, 5])
def test_temperature_fixes_overconfidence(c: int) -> None:
    z, y = synthetic(0, 4000, c)
    logits = 5.0 * z  # 5 x the true log-odds
    t = fit_temperature(logits, y)
    assert t > 1.0 and t == pytest.approx(5.0, rel=0.15)
    before, after = temperature_nll(logits, y), temperature_nll(logits, y, t)
    assert after < before
    assert after <= temperature_nll(logits, y, t * 1.05) and after <= temperature_nll(logits, y, t / 1.05)
    proba = apply_temperature(logits, t)
    np.testing.assert_array_equal(proba.argmax(axis=1), logits.argmax(axis=1))
    assert log_loss(y, proba, labels=np.arange(c)) == pytest.approx(after)
    assert expected_calibration_error(y, proba) < expected_calibration_error(y, softmax(logits, axis=1))


def test_temperature_near_one_when_calibrated() -> None:
    z, y = synthetic(1, 20000, 4)
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.1)


def test_binary_single_logit() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(scale=1.5, size=20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-z))).astype(int)
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.1)
    t = fit_temperature(5.0 * z, y)
    assert t == pytest.approx(5.0, rel=0.15)
    assert fit_temperature((5.0 * z)[:, None], y) == pytest.approx(t)
    proba = apply_temperature(5.0 * z, t)
    assert proba.shape == (20000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert log_loss(y, proba) == pytest.approx(temperature_nll(5.0 * z, y, t))
    # the single logit is the two-logit model [0, z]
    two = np.stack([np.zeros_like(z), 5.0 * z], axis=1)
    assert temperature_nll(two, y, 2.0) == pytest.approx(temperature_nll(5.0 * z, y, 2.0))


def test_logits_from_proba_round_trip() -> None:
    z, y = synthetic(3, 4000, 3)
    overconfident = softmax(5.0 * z, axis=1)
    logits = logits_from_proba(overconfident)
    np.testing.assert_allclose(apply_temperature(logits, 1.0), overconfident, atol=1e-9)
    assert fit_temperature(logits, y) == pytest.approx(5.0, rel=0.15)
    p1 = np.array([0.2, 0.5, 0.9])
    np.testing.assert_allclose(apply_temperature(logits_from_proba(p1), 1.0)[:, 1], p1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: apply_temperature(np.zeros((3, 2)), 0.0), "temperature"),
        (lambda: apply_temperature(np.zeros((3, 2)), -1.0), "temperature"),
        (lambda: fit_temperature(np.array([[np.nan, 0.0]]), np.array([0])), "NaN"),
        (lambda: fit_temperature(np.zeros((3, 2)), np.array([0, 1, 2])), "only 2 classes"),
        (lambda: fit_temperature(np.zeros((3, 2)), np.array([0, 1])), "rows"),
        (lambda: fit_temperature(np.zeros((3, 2, 2)), np.array([0, 1, 0])), "shape"),
        (lambda: expected_calibration_error(HAND_Y, HAND_PROBA, n_bins=0), "n_bins"),
        (lambda: expected_calibration_error(HAND_Y[:3], HAND_PROBA), "rows"),
        (lambda: logits_from_proba(np.array([0.5, 1.5])), r"\[0, 1\]"),
    ],
)
def test_invalid_inputs(call, match: str) -> None:
    with pytest.raises(MetricInputError, match=match):
        call()
