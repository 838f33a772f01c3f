"""dermkit.metrics.bootstrap: percentile and cluster (patient) bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.metrics.bootstrap import METRICS, bootstrap_ci
from dermkit.metrics.functional import MetricInputError


def make_data(seed: int, n: int, c: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.0 * np.eye(c)[y]
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("metric", "n_resamples"), [("accuracy", 1000), ("brier", 1000), ("macro_f1", 200), ("roc_auc", 100)]
)
def test_interval_contains_point(metric: str, n_resamples: int) -> None:
    y, p = make_data(0, 500)
    ci = bootstrap_ci(metric, y, p, n_resamples=n_resamples)
    assert ci["low"] <= ci["point"] <= ci["high"]
    assert ci["point"] == pytest.approx(METRICS[metric](y, p))
    assert ci["n_resamples"] == ci["n_requested"] == n_resamples and ci["confidence"] == 0.95
    assert all(type(ci[k]) is float for k in ("point", "low", "high"))


def test_width_shrinks_with_n() -> None:
    small, large = make_data(1, 100), make_data(1, 2000)
    w_small = bootstrap_ci("accuracy", *small)
    w_large = bootstrap_ci("accuracy", *large)
    assert (w_large["high"] - w_large["low"]) < 0.5 * (w_small["high"] - w_small["low"])
    narrow = bootstrap_ci("accuracy", *small, confidence=0.5)
    assert narrow["high"] - narrow["low"] < w_small["high"] - w_small["low"]


def test_groups_of_identical_rows_widen_the_interval() -> None:
    y, p = make_data(2, 100)
    y10, p10 = np.repeat(y, 10), np.repeat(p, 10, axis=0)  # each patient contributes 10 identical images
    patients = np.repeat(np.arange(100), 10)
    rows = bootstrap_ci("accuracy", y10, p10)
    clustered = bootstrap_ci("accuracy", y10, p10, groups=patients)
    per_patient = bootstrap_ci("accuracy", y, p)
    assert clustered["high"] - clustered["low"] > 2 * (rows["high"] - rows["low"])
    # resampling patients of the duplicated data is resampling rows of the original data
    assert clustered["high"] - clustered["low"] == pytest.approx(per_patient["high"] - per_patient["low"], rel=0.25)
    string_ids = np.array([f"patient-{i}" for i in patients])
    assert bootstrap_ci("accuracy", y10, p10, groups=string_ids)["n_resamples"] == 1000


def test_deterministic_for_a_seed() -> None:
    y, p = make_data(3, 300)
    for metric in ("accuracy", "macro_f1"):
        a = bootstrap_ci(metric, y, p, n_resamples=200, seed=7)
        assert a == bootstrap_ci(metric, y, p, n_resamples=200, seed=7)
        assert a != bootstrap_ci(metric, y, p, n_resamples=200, seed=8)


def test_undefined_resamples_are_dropped() -> None:
    y = np.zeros(30, dtype=int)
    y[0] = 1  # one positive: about (29/30)^30 = 36 % of resamples have none, where AUC is undefined
    p = np.tile([0.6, 0.4], (30, 1))
    p[0] = [0.1, 0.9]
    ci = bootstrap_ci("roc_auc", y, p, n_resamples=300)
    assert 100 < ci["n_resamples"] < 300 and ci["n_requested"] == 300
    assert ci["low"] <= ci["high"] and ci["point"] == 1.0


def test_rows_without_a_patient_id_are_patients_of_their_own() -> None:
    y, p = make_data(4, 200)
    ids: list[object] = [None if i % 4 == 0 else f"p{i // 2}" for i in range(200)]
    ids[1] = float("nan")
    ids[2] = ""
    ci = bootstrap_ci("accuracy", y, p, n_resamples=300, groups=ids)
    assert ci["low"] <= ci["point"] <= ci["high"] and ci["n_resamples"] == 300
    # the id-less rows are not pooled into one big cluster: the interval stays close to the per-pair one
    paired = bootstrap_ci("accuracy", y, p, n_resamples=300, groups=[f"p{i // 2}" for i in range(200)])
    pooled = bootstrap_ci("accuracy", y, p, n_resamples=300, groups=["none" if i % 4 == 0 else f"p{i // 2}"
                                                                      for i in range(200)])  # fmt: skip
    width = ci["high"] - ci["low"]
    assert width == pytest.approx(paired["high"] - paired["low"], rel=0.35)
    assert width < pooled["high"] - pooled["low"]


def test_every_kind_of_missing_id_is_a_patient_of_its_own() -> None:
    from dermkit.metrics.bootstrap import _group_layout

    ids = ["p1", "p1", 7, 7, None, "", float("nan"), np.float32("nan"), np.float64("nan")]
    _, _, _, counts = _group_layout(ids, len(ids))
    assert sorted(counts.tolist()) == [1, 1, 1, 1, 1, 2, 2]  # p1, 7, and five id-less rows alone


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "auroc"}, "unknown metric 'auroc'; valid metrics: accuracy, average_precision"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.0}, "confidence"),
        ({"groups": np.arange(5)}, "groups"),
    ],
)
def test_invalid_arguments(kwargs: dict, match: str) -> None:
    y, p = make_data(6, 20)
    args = {"metric": "accuracy", "y_true": y, "proba": p, **kwargs}
    with pytest.raises(MetricInputError, match=match):
        bootstrap_ci(**args)
