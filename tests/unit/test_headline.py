"""Headline metrics (fast numpy forms) against scikit-learn / imbalanced-learn; bootstrap and subgroup reports."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss, recall_score, roc_auc_score

from dermkit.metrics.classification import classification_metrics
from dermkit.metrics.functional import UndefinedMetricWarning, check_proba
from dermkit.metrics.headline import binary_auc, bootstrap_metrics, headline_functions, subgroup_metrics
from dermkit.metrics.operating_point import operating_points


def random_problem(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("seed", range(5))
def test_binary_auc_equals_sklearn_including_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300).astype(bool)
    score = np.round(rng.random(300) + 0.3 * y, 1)  # rounding makes many ties
    assert binary_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_binary_auc_is_undefined_with_one_class() -> None:
    assert np.isnan(binary_auc(np.ones(5, bool), np.arange(5.0)))


@pytest.mark.parametrize(("classes", "seed"), [(2, 0), (2, 1), (4, 2), (6, 3)])
def test_headline_functions_match_reference_implementations(classes: int, seed: int) -> None:
    y, proba = random_problem(400, classes, seed)
    pred = proba.argmax(axis=1)
    fns = headline_functions(classes)
    assert fns["accuracy"](y, proba) == pytest.approx(accuracy_score(y, pred))
    assert fns["balanced_accuracy"](y, proba) == pytest.approx(balanced_accuracy_score(y, pred))
    assert fns["macro_f1"](y, proba) == pytest.approx(f1_score(y, pred, average="macro"))
    assert fns["log_loss"](y, proba) == pytest.approx(log_loss(y, proba, labels=list(range(classes))))
    if classes == 2:
        assert fns["roc_auc"](y, proba) == pytest.approx(roc_auc_score(y, proba[:, 1]))
        assert fns["sensitivity"](y, proba) == pytest.approx(recall_score(y, pred))
        assert fns["specificity"](y, proba) == pytest.approx(recall_score(1 - y, 1 - pred))
    else:
        assert fns["roc_auc"](y, proba) == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
        assert fns["mauc"](y, proba) == pytest.approx(roc_auc_score(y, proba, multi_class="ovo", average="macro"))
        assert fns["g_mean"](y, proba) == pytest.approx(geometric_mean_score(y, pred, average="multiclass"))


@pytest.mark.parametrize("case", ["all_present", "class_absent", "predicted_but_absent", "float32_model_output"])
def test_headline_points_equal_metrics_json_values(case: str) -> None:
    y, proba = random_problem(300, 4, 11)
    if case == "float32_model_output":  # what evaluate gets from a softmax: rows off 1 by ~1e-8, renormalised once
        rounded = np.round(proba, 3)  # ties between scores
        proba = check_proba((rounded / rounded.sum(axis=1, keepdims=True)).astype(np.float32), y)
    if case != "all_present":
        keep = y != 3  # class 3 absent from the truth...
        y, proba = y[keep], proba[keep]
    if case == "predicted_but_absent":
        proba[:5] = [0.05, 0.05, 0.05, 0.85]  # ...but predicted for five images
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        full = classification_metrics(y, proba, ["a", "b", "c", "d"])
    fns = headline_functions(4)
    expected = {"accuracy": full["accuracy"], "balanced_accuracy": full["balanced_accuracy"], "g_mean": full["g_mean"],
                "macro_f1": full["macro"]["f1"], "roc_auc": full["roc_auc"], "mauc": full["mauc"],
                "log_loss": full["log_loss"], "ece": full["ece"], "brier": full["brier"],
                "average_precision": full["average_precision"], "cohen_kappa": full["cohen_kappa"]}  # fmt: skip
    assert set(fns) == set(expected)
    for name, value in expected.items():
        assert fns[name](y, proba) == pytest.approx(value), name
    assert 0 < fns["g_mean"](y, proba) < 1


@pytest.mark.parametrize("seed", range(4))
def test_binary_headline_points_equal_metrics_json_values_and_operating_points(seed: int) -> None:
    y, proba = random_problem(250, 2, seed)
    proba = np.round(proba, 2)  # ties between scores
    proba[:, 0] = 1.0 - proba[:, 1]
    threshold = 0.3 if seed % 2 else None
    full = classification_metrics(y, proba, ["benign", "malignant"], threshold=threshold)
    fns = headline_functions(2, threshold=threshold)
    expected = {"accuracy": full["accuracy"], "balanced_accuracy": full["balanced_accuracy"],
                "sensitivity": full["per_class"]["malignant"]["recall"],
                "specificity": full["per_class"]["malignant"]["specificity"], "macro_f1": full["macro"]["f1"],
                "roc_auc": full["roc_auc"], "average_precision": full["average_precision"],
                "cohen_kappa": full["cohen_kappa"], "log_loss": full["log_loss"], "brier": full["brier"],
                "ece": full["ece"], "g_mean": full["g_mean"]}  # fmt: skip
    for level, point in operating_points(y, proba[:, 1])["precision_at_recall"].items():
        expected[f"precision_at_recall_{level}"] = point["precision"]
    assert set(fns) == set(expected)
    for name, value in expected.items():
        assert fns[name](y, proba) == pytest.approx(value, abs=1e-12), name


def test_binary_threshold_changes_label_metrics_but_not_auc() -> None:
    y, proba = random_problem(300, 2, 7)
    plain, low = headline_functions(2), headline_functions(2, threshold=0.05)
    assert low["sensitivity"](y, proba) > plain["sensitivity"](y, proba)
    assert low["specificity"](y, proba) < plain["specificity"](y, proba)
    assert low["roc_auc"](y, proba) == plain["roc_auc"](y, proba)
    assert low["accuracy"](y, proba) == pytest.approx(accuracy_score(y, proba[:, 1] >= 0.05))


def test_bootstrap_interval_contains_point_and_narrows_with_more_data() -> None:
    fns = headline_functions(2)
    small = bootstrap_metrics(fns, *random_problem(80, 2, 1), n_resamples=300, seed=0)
    large = bootstrap_metrics(fns, *random_problem(2000, 2, 1), n_resamples=300, seed=0)
    for name in ("accuracy", "roc_auc", "macro_f1"):
        assert small[name]["low"] <= small[name]["point"] <= small[name]["high"]
        assert large[name]["high"] - large[name]["low"] < small[name]["high"] - small[name]["low"]
    assert bootstrap_metrics(fns, *random_problem(80, 2, 1), n_resamples=300, seed=0) == small


def test_cluster_bootstrap_over_duplicated_patients_is_wider() -> None:
    y, proba = random_problem(60, 2, 4)
    y, proba = np.repeat(y, 5), np.repeat(proba, 5, axis=0)  # each patient contributes 5 identical images
    patients = np.repeat(np.arange(60), 5)
    fns = {"accuracy": headline_functions(2)["accuracy"]}
    rows = bootstrap_metrics(fns, y, proba, n_resamples=400, seed=1)["accuracy"]
    grouped = bootstrap_metrics(fns, y, proba, n_resamples=400, seed=1, groups=patients)["accuracy"]
    assert grouped["high"] - grouped["low"] > 1.5 * (rows["high"] - rows["low"])


def test_bootstrap_without_resamples_gives_points_and_null_bounds() -> None:
    result = bootstrap_metrics(headline_functions(3), *random_problem(50, 3, 0), n_resamples=0)
    assert all(value["low"] is None and value["n_resamples"] == 0 for value in result.values())


def test_subgroups_report_each_group_and_the_worst_gap_direction() -> None:
    y, proba = random_problem(400, 2, 3)
    values = np.where(np.arange(400) < 200, "light", "dark").astype(object)
    flipped = np.arange(200, 400, 3)  # degrade the "dark" group: a third of its predictions reversed
    proba[flipped] = proba[flipped][:, ::-1]
    values[:5] = None  # rows without a value are left out
    report = subgroup_metrics(y, proba, list(values), headline_functions(2), n_resamples=50, seed=0)
    assert set(report["groups"]) == {"dark", "light"}
    assert report["groups"]["light"]["n"] == 195 and report["groups"]["dark"]["n"] == 200
    assert report["worst_gap"]["accuracy"]["worst"] == "dark"
    assert report["worst_gap"]["log_loss"]["worst"] == "dark"  # lower is better: the worst has the higher loss
    light, dark = (report["groups"][g]["metrics"]["accuracy"]["point"] for g in ("light", "dark"))
    assert report["worst_gap"]["accuracy"]["gap"] == pytest.approx(light - dark)
    assert report["groups"]["dark"]["metrics"]["accuracy"]["low"] is not None
