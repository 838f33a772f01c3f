"""Row weights are resamples: the weighted headline metrics equal the metrics of the repeated rows, and the bootstrap's
weighted fast path draws the same intervals as copying the rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, recall_score, roc_auc_score

from dermkit.metrics.bootstrap import bootstrap_metrics
from dermkit.metrics.headline import headline_functions
from dermkit.metrics.weighted import RankedScores, WeightedHeadline, headline_names
from tests.unit.test_headline import random_problem


def _tied(proba: np.ndarray) -> np.ndarray:
    rounded = np.round(proba, 2) + 1e-9  # many tied scores
    return rounded / rounded.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("classes", "threshold", "seed"), [(2, None, 0), (2, 0.3, 1), (3, None, 2), (5, None, 3)])
def test_weights_equal_repeating_rows(classes: int, threshold: float | None, seed: int) -> None:
    y, proba = random_problem(150, classes, seed)
    proba = _tied(proba)
    rows = np.random.default_rng(seed).integers(0, 150, 150)  # a resample: some rows twice, some absent
    weighted = WeightedHeadline(y, proba, threshold)(np.bincount(rows, minlength=150).astype(float))
    repeated = WeightedHeadline(y[rows], proba[rows], threshold)()
    assert list(weighted) == list(repeated) == headline_names(classes)
    for name, value in repeated.items():
        assert weighted[name] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), name


def test_weights_leaving_out_a_class_drop_it_from_the_macro_averages() -> None:
    y, proba = random_problem(200, 4, 5)
    weights = (y != 2).astype(float)
    values = WeightedHeadline(y, proba)(weights)
    kept = y != 2
    one_vs_rest = [roc_auc_score(y[kept] == c, proba[kept, c]) for c in (0, 1, 3)]
    assert values["roc_auc"] == pytest.approx(np.mean(one_vs_rest))
    predicted = proba[kept].argmax(axis=1)  # class 2 may still be predicted; only its recall is undefined
    assert values["balanced_accuracy"] == pytest.approx(
        recall_score(y[kept], predicted, labels=[0, 1, 3], average="macro")
    )
    assert values["average_precision"] == pytest.approx(
        np.mean([average_precision_score(y[kept] == c, proba[kept, c]) for c in (0, 1, 3)])
    )


def test_ranked_scores_with_zero_weight_runs_match_sklearn_on_the_drawn_rows() -> None:
    rng = np.random.default_rng(9)
    positive = rng.random(300) < 0.3
    score = np.round(rng.random(300) + 0.4 * positive, 1)
    weights = rng.integers(0, 3, 300).astype(float)  # zero weight: rows (and whole runs of ties) not drawn
    rows = np.repeat(np.arange(300), weights.astype(int))
    ranked = RankedScores(score, positive)
    assert ranked.auc(weights) == pytest.approx(roc_auc_score(positive[rows], score[rows]), abs=1e-12)
    assert ranked.average_precision(weights) == pytest.approx(
        average_precision_score(positive[rows], score[rows]), abs=1e-12
    )


@pytest.mark.parametrize(("classes", "grouped"), [(2, False), (2, True), (4, False)])
def test_bootstrap_fast_path_equals_copying_the_rows(classes: int, grouped: bool) -> None:
    y, proba = random_problem(120, classes, 7)
    groups = np.arange(120) // 3 if grouped else None
    fast = headline_functions(classes, threshold=0.4 if classes == 2 else None)
    plain = dict(fast.items())  # a plain dict of functions: the generic path copies every resample's rows
    fast_ci = bootstrap_metrics(fast, y, proba, n_resamples=40, groups=groups, seed=3)
    plain_ci = bootstrap_metrics(plain, y, proba, n_resamples=40, groups=groups, seed=3)
    assert list(fast_ci) == list(plain_ci)
    for name, interval in plain_ci.items():
        for key, value in interval.items():
            assert fast_ci[name][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
