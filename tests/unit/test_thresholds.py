"""Threshold rules: parsing errors, and that the chosen threshold reproduces the requested operating point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dermkit.errors import ConfigError
from dermkit.evaluation.pipeline import carry_threshold
from dermkit.evaluation.thresholds import choose_threshold, parse_rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("precision=0.9", "unknown threshold rule"),
        ("recall=high", "is not a number"),
        ("recall=1.5", "outside [0, 1]"),
        ("threshold=-0.1", "outside [0, 1]"),
        ("youden=0.5", "takes no value"),
    ],
)
def test_bad_rules_raise_one_line_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rule(text)


def scores(seed: int = 0, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, 1 / (1 + np.exp(-(rng.normal(size=n) + 2.0 * y)))


@pytest.mark.parametrize("level", [0.999, 0.99, 0.95, 0.8])
def test_recall_rule_reproduces_the_requested_recall(level: float) -> None:
    y, score = scores()
    threshold = choose_threshold(parse_rule(f"recall={level}"), y, score)
    recall = ((score >= threshold) & (y == 1)).sum() / (y == 1).sum()
    assert recall >= level
    # No threshold that keeps the recall gives a better precision.
    precision = lambda t: ((score >= t) & (y == 1)).sum() / (score >= t).sum()  # noqa: E731
    valid = [t for t in np.unique(score) if ((score >= t) & (y == 1)).sum() / (y == 1).sum() >= level]
    assert precision(threshold) >= max(precision(t) for t in valid) - 1e-12


def test_sensitivity_youden_and_fixed_rules() -> None:
    y, score = scores(1)
    sensitivity = choose_threshold(parse_rule("sensitivity=0.9"), y, score)
    assert ((score >= sensitivity) & (y == 1)).sum() / (y == 1).sum() >= 0.9
    youden = choose_threshold(parse_rule("youden"), y, score)

    def j(t: float) -> float:
        sensitivity = ((score >= t) & (y == 1)).sum() / (y == 1).sum()
        specificity = ((score < t) & (y == 0)).sum() / (y == 0).sum()
        return sensitivity + specificity - 1

    assert all(j(youden) >= j(t) - 1e-12 for t in np.linspace(0.01, 0.99, 99))
    assert choose_threshold(parse_rule("threshold=0.3"), y, score) == 0.3


def test_choosing_needs_both_classes() -> None:
    with pytest.raises(ConfigError, match="both classes"):
        choose_threshold(parse_rule("recall=0.9"), np.ones(10), np.linspace(0, 1, 10))


@pytest.mark.parametrize(("old", "new"), [(1.0, 2.5), (2.0, 0.7), (0.5, 0.5)])
def test_carried_threshold_keeps_every_decision(old: float, new: float) -> None:
    z = np.linspace(-8, 8, 4001)
    threshold = 0.1
    before = 1 / (1 + np.exp(-z / old)) >= threshold
    after = 1 / (1 + np.exp(-z / new)) >= carry_threshold(threshold, old, new)
    assert (before == after).mean() > 0.999  # only the grid point sitting exactly on the boundary may round
    assert carry_threshold(0.5, old, new) == pytest.approx(0.5)
    assert carry_threshold(0.0, old, new) == 0.0 and not math.isnan(carry_threshold(1.0, old, new))
