"""Choosing a binary decision threshold by a rule, on labelled data.

``recall=0.999``: the highest-precision threshold whose recall (sensitivity) is at least 0.999 — the skin_classifier
project's "precision at >= 99.9 % recall" operating point; ``sensitivity=0.99``: the highest-specificity threshold
with sensitivity >= 0.99; ``youden``: the threshold maximising Youden's J = sensitivity + specificity - 1
(Youden 1950); ``threshold=0.3``: a fixed value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermkit.errors import ConfigError
from dermkit.metrics.operating_point import precision_at_recall, specificity_at_sensitivity, youden_threshold

RULES = ("recall", "sensitivity", "youden", "threshold")


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed ``--choose-threshold`` rule."""

    kind: str
    value: float | None

    def __str__(self) -> str:
        if self.kind == "youden":
            return "max Youden J"
        if self.kind == "threshold":
            return f"fixed {self.value:g}"
        return f"{self.kind}>={self.value:g}"


def parse_rule(text: str) -> ThresholdRule:
    """Parse ``recall=0.999``, ``sensitivity=0.95``, ``youden`` or ``threshold=0.3``."""
    kind, _, raw = text.strip().partition("=")
    kind = kind.strip().lower()
    if kind not in RULES:
        raise ConfigError(f"unknown threshold rule '{text}'; use recall=X, sensitivity=X, youden or threshold=X")
    if kind == "youden":
        if raw:
            raise ConfigError(f"threshold rule '{text}': youden takes no value")
        return ThresholdRule(kind, None)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"threshold rule '{text}': '{raw}' is not a number (e.g. {kind}=0.99)") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"threshold rule '{text}': {value:g} is outside [0, 1]")
    return ThresholdRule(kind, value)


def choose_threshold(rule: ThresholdRule, y_true: np.ndarray, positive_score: np.ndarray) -> float:
    """The threshold on the positive-class probability that ``rule`` selects on these labels and scores.

    Predicting positive when ``score >= threshold`` reproduces the requested recall/sensitivity on this data. The
    value returned lies halfway between the selected score and the next lower one (same decisions on this data).
    """
    y = np.asarray(y_true)
    if rule.kind == "threshold":
        return float(rule.value)  # type: ignore[arg-type]
    if not (y == 1).any() or not (y == 0).any():
        raise ConfigError("choosing a threshold needs images of both classes in the data")
    if rule.kind == "recall":
        threshold = precision_at_recall(y, positive_score, rule.value).threshold
    elif rule.kind == "sensitivity":
        threshold = specificity_at_sensitivity(y, positive_score, rule.value).threshold
    else:
        threshold = youden_threshold(y, positive_score).threshold
    # The rule picks an observed score; move to the midpoint below it, which makes the same decisions on this data
    # but does not sit on a data point (robust to rounding in CSVs and to tiny numeric differences elsewhere).
    scores = np.asarray(positive_score, dtype=float)
    below = scores[scores < threshold]
    if np.isfinite(threshold) and below.size:
        threshold = (threshold + below.max()) / 2.0
    return float(min(1.0, max(0.0, threshold)))
