"""dermkit.metrics.functional checked against scikit-learn / imbalanced-learn references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn import metrics as imb
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from dermkit.metrics import functional as F
from dermkit.metrics.functional import MetricInputError, UndefinedMetricWarning

CASES = [(seed, c) for seed in (0, 1, 2) for c in (2, 3, 5)]


def make_data(seed: int, c: int, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skewed labels, informative but noisy probabilities, argmax predictions; all classes present."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.full(c, 2.0))
    y = np.concatenate([np.arange(c), rng.choice(c, size=n - c, p=prior)])
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba, proba.argmax(axis=1)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize(("seed", "c"), CASES)
def test_label_metrics_match_sklearn(seed: int, c: int) -> None:
    y, _, yp = make_data(seed, c)
    labels = np.arange(c)
    assert F.accuracy(y, yp) == pytest.approx(skm.accuracy_score(y, yp))
    assert F.balanced_accuracy(y, yp) == pytest.approx(skm.balanced_accuracy_score(y, yp))
    np.testing.assert_array_equal(F.confusion_matrix(y, yp, c), skm.confusion_matrix(y, yp, labels=labels))
    np.testing.assert_array_equal(F.support(y, c), np.bincount(y, minlength=c))
    for ours, ref in ((F.precision, skm.precision_score), (F.recall, skm.recall_score), (F.f1, skm.f1_score)):
        for avg in (None, "macro", "weighted"):
            expected = quiet(ref, y, yp, labels=labels, average=avg, zero_division=np.nan)
            np.testing.assert_allclose(quiet(ours, y, yp, c, average=avg), expected, equal_nan=True)
    for avg in (None, "macro", "weighted"):
        np.testing.assert_allclose(
            quiet(F.specificity, y, yp, c, average=avg), imb.specificity_score(y, yp, labels=labels, average=avg)
        )
        np.testing.assert_allclose(
            quiet(F.recall, y, yp, c, average=avg), imb.sensitivity_score(y, yp, labels=labels, average=avg)
        )
    assert F.g_mean(y, yp, c) == pytest.approx(imb.geometric_mean_score(y, yp, average="multiclass"))
    for weights in (None, "linear", "quadratic"):
        expected = skm.cohen_kappa_score(y, yp, labels=labels, weights=weights)
        assert F.cohen_kappa(y, yp, c, weights=weights) == pytest.approx(expected)


@pytest.mark.parametrize(("seed", "c"), CASES)
def test_probability_metrics_match_sklearn(seed: int, c: int) -> None:
    y, p, yp = make_data(seed, c)
    labels = np.arange(c)
    assert F.log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=labels))
    assert F.brier_score(y, p) == pytest.approx(np.mean(np.sum((p - np.eye(c)[y]) ** 2, axis=1)))
    if c == 2:
        assert F.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
        assert F.mauc(y, p) == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
        assert F.roc_auc(y, p, positive=0) == pytest.approx(skm.roc_auc_score(y == 0, p[:, 0]))
        assert F.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p[:, 1]))
        assert F.brier_score(y, p, "binary") == pytest.approx(skm.brier_score_loss(y, p[:, 1]))
        assert F.brier_score(y, p) == pytest.approx(2 * F.brier_score(y, p, "binary"))
        assert F.top_k_accuracy(y, p, k=1) == pytest.approx(skm.accuracy_score(y, yp))
        sens, spec = F.recall(y, yp)[1], F.recall(y, yp)[0]
        assert F.youden_index(y, yp) == pytest.approx(sens + spec - 1)
        assert F.g_mean(y, yp) == pytest.approx(imb.geometric_mean_score(y, yp, average="binary"))
    else:
        ovr = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
        assert F.roc_auc(y, p) == pytest.approx(ovr)
        per_class = [skm.roc_auc_score(y == k, p[:, k]) for k in range(c)]
        np.testing.assert_allclose(F.roc_auc(y, p, average=None), per_class)
        ovo = skm.roc_auc_score(y, p, multi_class="ovo", average="macro", labels=labels)
        assert F.mauc(y, p) == pytest.approx(ovo)
        ap = skm.average_precision_score(label_binarize(y, classes=labels), p, average="macro")
        assert F.average_precision(y, p) == pytest.approx(ap)
        for k in (1, 2):
            assert F.top_k_accuracy(y, p, k=k) == pytest.approx(skm.top_k_accuracy_score(y, p, k=k, labels=labels))
    assert F.top_k_accuracy(y, p, k=c) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda c: st.tuples(
            st.just(c),
            st.lists(st.tuples(st.integers(0, c - 1), st.integers(0, c - 1)), min_size=1, max_size=40),
        )
    )
)
def test_per_class_metrics_on_arbitrary_labels(data: tuple[int, list[tuple[int, int]]]) -> None:
    c, pairs = data
    y, yp = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    labels = np.arange(c)
    for ours, ref in ((F.precision, skm.precision_score), (F.recall, skm.recall_score), (F.f1, skm.f1_score)):
        expected = quiet(ref, y, yp, labels=labels, average=None, zero_division=np.nan)
        np.testing.assert_allclose(quiet(ours, y, yp, c), expected, equal_nan=True)
        per_class = quiet(ours, y, yp, c)
        for avg in ("macro", "weighted"):
            expected = quiet(ref, y, yp, labels=labels, average=avg, zero_division=np.nan)
            if avg == "weighted" and np.bincount(y, minlength=c)[np.isfinite(per_class)].sum() == 0:
                # every defined class has zero support: 0/0, NaN here (sklearn falls back to the plain mean)
                expected = np.nan
            np.testing.assert_allclose(quiet(ours, y, yp, c, average=avg), expected, equal_nan=True)
    spec = quiet(F.specificity, y, yp, c)
    ref_spec = quiet(imb.specificity_score, y, yp, labels=labels, average=None)
    defined = np.isfinite(spec)
    np.testing.assert_allclose(spec[defined], ref_spec[defined])
    assert np.array_equal(~defined, np.bincount(y, minlength=c) == len(y))


def test_ties_perfect_and_constant_scores() -> None:
    y, p, _ = make_data(3, 3)
    tied = np.round(p, 1)
    tied /= tied.sum(axis=1, keepdims=True)
    assert F.roc_auc(y, tied) == pytest.approx(skm.roc_auc_score(y, tied, multi_class="ovr", labels=[0, 1, 2]))
    assert F.mauc(y, tied) == pytest.approx(skm.roc_auc_score(y, tied, multi_class="ovo", labels=[0, 1, 2]))
    perfect = np.eye(3)[y]
    assert F.roc_auc(y, perfect) == 1.0 and F.mauc(y, perfect) == 1.0 and F.average_precision(y, perfect) == 1.0
    assert F.accuracy(y, y) == 1.0 and F.cohen_kappa(y, y) == 1.0 and F.g_mean(y, y) == 1.0
    assert F.log_loss(y, perfect) == pytest.approx(0.0, abs=1e-9) and F.brier_score(y, perfect) == 0.0
    yb = np.array([0, 1, 1, 0, 1, 0, 0, 0])
    const = np.full((8, 2), 0.5)
    assert F.roc_auc(yb, const) == 0.5
    assert F.average_precision(yb, const) == pytest.approx(yb.mean())


def test_class_missing_from_y_true() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    yp = np.array([0, 2, 1, 0, 0, 1])
    with pytest.warns(UndefinedMetricWarning, match="recall"):
        rec = F.recall(y, yp, 3)
    assert np.isnan(rec[2]) and rec[0] == pytest.approx(2 / 3)
    with pytest.warns(UndefinedMetricWarning, match="macro"):
        assert F.recall(y, yp, 3, average="macro") == pytest.approx(np.mean(rec[:2]))
    assert quiet(F.f1, y, yp, 3)[2] == 0.0  # predicted but absent: F1 = 2TP/(2TP+FP+FN) = 0, not undefined
    assert quiet(F.precision, y, yp, 3)[2] == 0.0
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=6)
    assert F.log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]))
    with pytest.warns(UndefinedMetricWarning, match="roc_auc"):
        auc = F.roc_auc(y, p)
    assert auc == pytest.approx(np.mean([skm.roc_auc_score(y == k, p[:, k]) for k in (0, 1)]))
    with pytest.warns(UndefinedMetricWarning, match="mauc"):
        m = F.mauc(y, p)
    mask = y < 2
    expected = (skm.roc_auc_score(y[mask] == 0, p[mask, 0]) + skm.roc_auc_score(y[mask] == 1, p[mask, 1])) / 2
    assert m == pytest.approx(expected)
    with pytest.warns(UndefinedMetricWarning):
        assert F.g_mean(y, yp, 3) == pytest.approx(np.sqrt(rec[0] * rec[1]))


def test_class_never_predicted() -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    yp = np.array([0, 1, 1, 1, 1, 0, 1])
    with pytest.warns(UndefinedMetricWarning, match="precision"):
        prec = F.precision(y, yp)
    assert np.isnan(prec[2])
    expected = skm.precision_score(y, yp, average="macro", zero_division=np.nan)
    assert quiet(F.precision, y, yp, average="macro") == pytest.approx(expected)
    assert F.recall(y, yp)[2] == 0.0 and F.f1(y, yp)[2] == 0.0
    assert F.g_mean(y, yp) == 0.0
    expected = imb.geometric_mean_score(y, yp, average="multiclass", correction=0.001)
    assert F.g_mean(y, yp, zero_recall=0.001) == pytest.approx(expected)


def test_single_class_present_is_nan_with_warning() -> None:
    y = np.zeros(5, dtype=int)
    p = np.tile([0.7, 0.3], (5, 1))
    for fn in (F.roc_auc, F.mauc):
        with pytest.warns(UndefinedMetricWarning):
            assert np.isnan(fn(y, p))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(F.average_precision(y, p))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(F.youden_index(y, y))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(F.cohen_kappa(y, y, 2))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(F.specificity(y, y, 2)[0])
    p3 = np.tile([0.5, 0.3, 0.2], (5, 1))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(F.roc_auc(y, p3))


def test_predict() -> None:
    p = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    np.testing.assert_array_equal(F.predict(p), [0, 1, 0])
    np.testing.assert_array_equal(F.predict(p, threshold=0.3), [1, 1, 1])
    np.testing.assert_array_equal(F.predict(p, threshold=0.55), [0, 1, 0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.accuracy(np.array([0, 1]), np.array([0, 1, 1])), "differ in length"),
        (lambda: F.accuracy(np.array([[0, 1]]), np.array([0, 1])), "1-D"),
        (lambda: F.accuracy(np.array([0.5, 1]), np.array([0, 1])), "integer"),
        (lambda: F.accuracy(np.array([-1, 1]), np.array([0, 1])), "negative"),
        (lambda: F.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3), "only 3 classes"),
        (lambda: F.log_loss(np.array([0, 1]), np.array([[0.5, 0.5]])), "rows"),
        (lambda: F.log_loss(np.array([0, 1]), np.array([[1.2, -0.2], [0.5, 0.5]])), r"\[0, 1\]"),
        (lambda: F.log_loss(np.array([0, 1]), np.array([[0.6, 0.6], [0.5, 0.5]])), "sum to 1"),
        (lambda: F.log_loss(np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]])), "columns"),
        (lambda: F.roc_auc(np.array([0, 1]), np.array([0.5, 0.5])), "shape"),
        (lambda: F.predict(np.array([[0.5, 0.5]]), threshold=1.5), r"\[0, 1\]"),
        (lambda: F.predict(np.array([[0.2, 0.3, 0.5]]), threshold=0.5), "binary"),
        (lambda: F.precision(np.array([0, 1]), np.array([0, 1]), average="micro"), "average"),
        (lambda: F.cohen_kappa(np.array([0, 1]), np.array([0, 1]), weights="cubic"), "weights"),
        (lambda: F.brier_score(np.array([0, 1]), np.eye(2), variant="other"), "variant"),
        (lambda: F.top_k_accuracy(np.array([0, 1]), np.eye(2), k=0), "k must"),
    ],
)
def test_invalid_inputs_raise_value_error(call, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert isinstance(info.value, MetricInputError)
    assert "\n" not in str(info.value)
