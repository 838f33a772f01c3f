"""Long-tail metrics against scikit-learn, imbalanced-learn and hand-computed examples."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import precision_recall_fscore_support, recall_score

from dermkit.metrics.functional import MetricInputError
from dermkit.metrics.longtail import g_mean_spbl, imbalance_ratio, shot_accuracy, shot_groups, weighted_pr_harmonic


def _predictions(seed: int = 0, num_classes: int = 8, n: int = 300):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    y[:num_classes] = np.arange(num_classes)  # every class in y_true
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, num_classes, n))
    pred[y == 1] = 0  # class 1 never recalled
    pred[pred == 2] = 3  # class 2 never predicted
    return y, pred


def test_shot_groups_thresholds() -> None:
    counts = np.array([150, 100, 20, 19, 0, 101])
    assert shot_groups(counts) == {"many": [0, 5], "medium": [1, 2], "few": [3, 4]}
    assert shot_groups(counts, many=19, few=1) == {"many": [0, 1, 2, 5], "medium": [3], "few": [4]}
    with pytest.raises(MetricInputError, match="few <= many"):
        shot_groups(counts, many=10, few=20)


def test_shot_accuracy_by_hand() -> None:
    groups = {"many": [0], "medium": [1, 2], "few": [3]}
    y = np.array([0, 0, 0, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 0, 2])
    # many: 2 of 3 right; medium: images 3, 4, 5 -> 2 of 3; few: no image of class 3
    assert shot_accuracy(y, pred, groups) == {"many": pytest.approx(2 / 3), "medium": pytest.approx(2 / 3), "few": None}


def test_shot_accuracy_is_support_weighted_recall_of_the_group() -> None:
    y, pred = _predictions()
    groups = shot_groups(np.bincount(y), many=45, few=35)
    rec = recall_score(y, pred, average=None, labels=np.arange(8), zero_division=0)
    n = np.bincount(y, minlength=8)
    for name, acc in shot_accuracy(y, pred, groups).items():
        cls = groups[name]
        assert acc == pytest.approx(np.sum(rec[cls] * n[cls]) / np.sum(n[cls]))


def test_g_mean_spbl_equals_imblearn_with_correction() -> None:
    y, pred = _predictions()
    ours = g_mean_spbl(y, pred, 8)
    assert ours == pytest.approx(geometric_mean_score(y, pred, correction=0.001), rel=1e-12)
    assert 0 < ours < 0.5  # the missed class enters as 0.001, not 0
    assert geometric_mean_score(y, pred) == 0.0


def test_g_mean_spbl_leaves_out_classes_absent_from_y_true() -> None:
    y = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 3, 3])  # class 3 predicted, never true
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that class 3 has no true sample
        # recalls [1, 0.5, 0 -> 0.001]: (0.0005) ** (1/3)
        assert g_mean_spbl(y, pred) == pytest.approx(0.0005 ** (1 / 3))
        assert g_mean_spbl(y, pred) == pytest.approx(geometric_mean_score(y, pred, labels=[0, 1, 2], correction=0.001))
        assert geometric_mean_score(y, pred, correction=0.001) == pytest.approx(5e-7**0.25)  # imblearn's default


def test_weighted_pr_harmonic_equals_sklearn_weighted_precision_recall() -> None:
    y, pred = _predictions()
    p_w, r_w, _, _ = precision_recall_fscore_support(y, pred, average="weighted", zero_division=0)
    assert weighted_pr_harmonic(y, pred) == pytest.approx(2 * p_w * r_w / (p_w + r_w), rel=1e-12)
    assert r_w == pytest.approx(np.mean(y == pred))


def test_weighted_pr_harmonic_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 0, 0])
    # precision [2/4, 1/2, undefined -> 0], support [3, 1, 2]: P_w = (1.5 + 0.5 + 0) / 6 = 1/3; R_w = 3/6 = 1/2
    # 2 * (1/3) * (1/2) / (1/3 + 1/2) = 0.4
    assert weighted_pr_harmonic(y, pred) == pytest.approx(0.4)
    assert weighted_pr_harmonic(np.array([0, 1]), np.array([1, 0])) == 0.0


def test_imbalance_ratio_ignores_empty_classes() -> None:
    assert imbalance_ratio(np.array([50, 0, 5, 10])) == 10.0
    with pytest.raises(MetricInputError, match="at least one class"):
        imbalance_ratio(np.zeros(3))
