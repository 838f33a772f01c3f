"""dermkit.metrics.operating_point: constrained thresholds, checked by brute force over all thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermkit.metrics.functional import MetricInputError, UndefinedMetricWarning
from dermkit.metrics.operating_point import (
    operating_points,
    precision_at_recall,
    specificity_at_sensitivity,
    youden_threshold,
)

LEVELS = [0.0, 0.3, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]


def make_scores(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y)))
    return y, np.round(score, 1) if ties else score


def rates(y: np.ndarray, s: np.ndarray, thr: float) -> tuple[float, float, float]:
    pred, t = s >= thr, y == 1
    tp, fp = np.sum(pred & t), np.sum(pred & ~t)
    return tp / max(tp + fp, 1), tp / t.sum(), np.sum(~pred & ~t) / max((~t).sum(), 1)


def brute_force(y: np.ndarray, s: np.ndarray, level: float, objective: str) -> tuple[float, float]:
    """Best (value, threshold) over all observed thresholds meeting the recall floor; ties -> higher threshold."""
    best = (-np.inf, -np.inf)
    for thr in np.unique(s):
        prec, rec, spec = rates(y, s, thr)
        if rec >= level:
            best = max(best, (prec if objective == "precision" else spec, thr))
    return best


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_at_recall_is_optimal_and_reproducible(seed: int, ties: bool) -> None:
    y, s = make_scores(seed, ties=ties)
    for level in LEVELS:
        prec, thr, rec = precision_at_recall(y, s, level)
        assert rec >= level
        assert (prec, rec) == rates(y, s, thr)[:2]  # the threshold reproduces the numbers exactly
        assert (prec, thr) == pytest.approx(brute_force(y, s, level, "precision"))
        assert thr in s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_specificity_at_sensitivity_and_youden(seed: int, ties: bool) -> None:
    y, s = make_scores(seed, ties=ties)
    for level in LEVELS:
        spec, thr, sens = specificity_at_sensitivity(y, s, level)
        assert sens >= level
        assert (sens, spec) == rates(y, s, thr)[1:]
        assert (spec, thr) == pytest.approx(brute_force(y, s, level, "specificity"))
    j, thr, sens, spec = youden_threshold(y, s)
    assert (sens, spec) == rates(y, s, thr)[1:] and j == pytest.approx(sens + spec - 1)
    brute = max((sum(rates(y, s, t)[1:]) - 1, t) for t in np.unique(s))
    assert (j, thr) == pytest.approx(brute)


def test_full_recall_gives_lowest_positive_score() -> None:
    y, s = make_scores(4)
    prec, thr, rec = precision_at_recall(y, s, 1.0)
    assert rec == 1.0 and thr == s[y == 1].min() and prec == (y == 1).sum() / (s >= thr).sum()
    spec, thr2, sens = specificity_at_sensitivity(y, s, 1.0)
    assert sens == 1.0 and thr2 == thr and spec == rates(y, s, thr)[2]


def test_precision_at_recall_hand_example() -> None:
    # thresholds 0.1..0.9; recall 1, 1, .8, .8, .6, .4, .4, .2, 0; precision 5/9, 5/8, 4/7, 4/6, 3/5, 2/4, 2/3, 1/2, 0
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 1, 0, 1, 1, 0, 1, 1, 0])
    assert precision_at_recall(y, s, 0.7) == pytest.approx((4 / 6, 0.4, 0.8))
    assert precision_at_recall(y, s, 0.3) == pytest.approx((2 / 3, 0.7, 0.4))  # tie 4/6 = 2/3 -> higher threshold


def test_degenerate_labels() -> None:
    s = np.array([0.2, 0.4, 0.6])
    with pytest.warns(UndefinedMetricWarning):
        assert all(np.isnan(precision_at_recall(np.zeros(3, int), s, 0.9)))
    with pytest.warns(UndefinedMetricWarning):
        assert all(np.isnan(specificity_at_sensitivity(np.ones(3, int), s, 0.9)))
    with pytest.warns(UndefinedMetricWarning):
        assert all(np.isnan(youden_threshold(np.zeros(3, int), s)))
    assert precision_at_recall(np.ones(3, int), s, 0.9) == (1.0, 0.2, 1.0)
    assert precision_at_recall(np.array([0, 2, 2]), s, 0.5, positive=2) == (1.0, 0.6, 0.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: precision_at_recall([0, 1], [0.1, 0.2], 1.5), "min_recall"),
        (lambda: specificity_at_sensitivity([0, 1], [0.1, 0.2], -0.1), "min_sensitivity"),
        (lambda: precision_at_recall([0, 1], [[0.9, 0.1], [0.2, 0.8]], 0.5), "1-D"),
        (lambda: youden_threshold([0, 1, 1], [0.1, 0.2]), "rows"),
        (lambda: youden_threshold([0, 1], [0.1, np.nan]), "NaN"),
        (lambda: operating_points([0, 1], [0.1, 0.2], levels=(2.0,)), "level"),
    ],
)
def test_invalid_inputs(call, match: str) -> None:
    with pytest.raises(MetricInputError, match=match):
        call()


def test_operating_points_dict() -> None:
    y, s = make_scores(7, n=2000)
    out = operating_points(y, s)
    assert set(out) == {"precision_at_recall", "specificity_at_sensitivity", "youden"}
    assert list(out["precision_at_recall"]) == ["0.999", "0.99", "0.95"]
    assert out["precision_at_recall"]["0.95"] == precision_at_recall(y, s, 0.95)._asdict()
    assert set(out["specificity_at_sensitivity"]["0.99"]) == {"specificity", "threshold", "sensitivity"}
    assert set(out["youden"]) == {"j", "threshold", "sensitivity", "specificity"}
    json.dumps(out, allow_nan=False)
    with pytest.warns(UndefinedMetricWarning) as record:
        out = operating_points(np.zeros(5, int), np.linspace(0, 1, 5))
    assert len([w for w in record if issubclass(w.category, UndefinedMetricWarning)]) == 1
    assert np.isnan(out["youden"]["j"])
