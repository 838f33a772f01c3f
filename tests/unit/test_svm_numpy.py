"""The pickle-free RBF SVM: numpy decision == scikit-learn's SVC, arrays survive safetensors, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from scipy.special import softmax
from sklearn.svm import SVC

from dermkit.models.svm import SVMArrays, decision_function, fit_svm, svm_scores


def _data(num_classes: int, n: int = 120, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % num_classes  # every class present
    x = rng.normal(size=(n, d)) + 0.8 * y[:, None] * rng.normal(size=(1, d))
    return x, y, rng.uniform(0.05, 5.0, n), rng.normal(size=(50, d)) * 1.5


@pytest.mark.parametrize("num_classes", [2, 3, 6])
@pytest.mark.parametrize("weighted", [False, True])
def test_numpy_decision_equals_sklearn(num_classes: int, weighted: bool) -> None:
    x, y, w, x_test = _data(num_classes)
    w = w if weighted else None
    svm = fit_svm(x, y, w, seed=0)
    ref = SVC(kernel="rbf", decision_function_shape="ovr").fit(x, y, sample_weight=w)
    ours, theirs = decision_function(svm, x_test), ref.decision_function(x_test)
    assert ours.shape == (50, num_classes)
    if num_classes == 2:  # scikit-learn gives one margin d (N,), positive for classes_[1]; we give [-d, d]
        assert theirs.shape == (50,)
        np.testing.assert_allclose(ours[:, 1], theirs, rtol=0, atol=1e-6)
        np.testing.assert_allclose(ours[:, 0], -theirs, rtol=0, atol=1e-6)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    # the argmax is scikit-learn's prediction (break_ties=True predicts the argmax of the ovr decision)
    tie_broken = SVC(kernel="rbf", break_ties=num_classes > 2).fit(x, y, sample_weight=w)
    np.testing.assert_array_equal(svm.classes[ours.argmax(axis=1)], tie_broken.predict(x_test))


def test_weights_change_the_svm() -> None:
    x, y, w, x_test = _data(3)
    unweighted = decision_function(fit_svm(x, y), x_test)
    assert np.abs(decision_function(fit_svm(x, y, w), x_test) - unweighted).max() > 1e-3


def test_gamma_float_and_label_values_are_kept() -> None:
    x, y, _, x_test = _data(3)
    labels = np.array([3, 7, 9])[y]
    svm = fit_svm(x, labels, gamma=0.05, C=2.0)
    assert svm.gamma == 0.05
    np.testing.assert_array_equal(svm.classes, [3, 7, 9])
    ref = SVC(kernel="rbf", gamma=0.05, C=2.0).fit(x, labels)
    np.testing.assert_allclose(decision_function(svm, x_test), ref.decision_function(x_test), atol=1e-6)


def test_gamma_scale_is_resolved() -> None:
    x, y, _, _ = _data(3)
    assert fit_svm(x, y).gamma == pytest.approx(1.0 / (x.shape[1] * x.var()))


@pytest.mark.parametrize("num_classes", [2, 6])
def test_arrays_round_trip_through_safetensors(tmp_path: Path, num_classes: int) -> None:
    x, y, w, x_test = _data(num_classes)
    svm = fit_svm(x, y, w)
    save_file(svm.to_arrays(), tmp_path / "svm.safetensors")
    loaded = SVMArrays.from_arrays(load_file(tmp_path / "svm.safetensors"))
    np.testing.assert_array_equal(decision_function(loaded, x_test), decision_function(svm, x_test))
    assert loaded.gamma == svm.gamma
    np.testing.assert_array_equal(loaded.n_support, svm.n_support)


def test_from_arrays_names_missing_and_inconsistent_arrays() -> None:
    x, y, _, _ = _data(3)
    arrays = fit_svm(x, y).to_arrays()
    with pytest.raises(ValueError, match=r"lack \['intercept'\]"):
        SVMArrays.from_arrays({k: v for k, v in arrays.items() if k != "intercept"})
    with pytest.raises(ValueError, match="inconsistent"):
        SVMArrays.from_arrays({**arrays, "intercept": arrays["intercept"][:2]})


def test_fit_with_one_class_says_why() -> None:
    x, _, _, _ = _data(2)
    with pytest.raises(ValueError, match=r"at least two classes, got \[4\]"):
        fit_svm(x, np.full(len(x), 4))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_fit_rejects_non_positive_weights(bad: float) -> None:
    x, y, w, _ = _data(2)
    w[3] = bad
    with pytest.raises(ValueError, match="sample_weight"):
        fit_svm(x, y, w)


def test_decision_rejects_wrong_feature_width() -> None:
    x, y, _, _ = _data(3)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        decision_function(fit_svm(x, y), np.zeros((2, 5)))


def test_svm_scores_is_softmax_over_classes() -> None:
    decision = np.array([[2.3, 0.1, 1.0], [-5.0, 700.0, 0.0]])
    np.testing.assert_allclose(svm_scores(decision), softmax(decision, axis=1), rtol=1e-12)
    np.testing.assert_allclose(svm_scores(decision).sum(axis=1), 1.0)
