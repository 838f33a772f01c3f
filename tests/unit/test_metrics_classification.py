"""dermkit.metrics.classification: the dict behind ``dermkit evaluate`` and its text summary."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from imblearn import metrics as imb
from sklearn import metrics as skm

from dermkit.metrics.classification import classification_metrics
from dermkit.metrics.functional import MetricInputError, UndefinedMetricWarning
from dermkit.reports.summary import format_summary

NAMES3 = ["melanoma", "nevus", "seborrheic_keratosis"]
NAMES2 = ["benign", "malignant"]
TOP_KEYS = {
    "n", "accuracy", "balanced_accuracy", "macro", "weighted", "per_class", "confusion_matrix", "roc_auc", "mauc",
    "average_precision", "g_mean", "log_loss", "brier", "ece", "cohen_kappa", "threshold", "undefined",
}  # fmt: skip


def make_data(seed: int, c: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    logits = rng.normal(size=(n, c)) + 1.2 * np.eye(c)[y]
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def walk(obj):
    """Yield every leaf of a nested dict / list."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)
    else:
        yield obj


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_matches_references(seed: int) -> None:
    y, p = make_data(seed, 3)
    yp = p.argmax(axis=1)
    m = classification_metrics(y, p, NAMES3)
    assert set(m) == TOP_KEYS | {"top2_accuracy", "quadratic_kappa", "g_mean_spbl", "weighted_pr_harmonic"}
    assert m["n"] == len(y) and m["threshold"] is None and m["undefined"] == []
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, yp))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, yp))
    for key, ref in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        for avg in ("macro", "weighted"):
            assert m[avg][key] == pytest.approx(ref(y, yp, average=avg))
        per_class = ref(y, yp, average=None)
        assert [m["per_class"][name][key] for name in NAMES3] == pytest.approx(per_class)
    spec = imb.specificity_score(y, yp, average=None)
    assert [m["per_class"][name]["specificity"] for name in NAMES3] == pytest.approx(spec)
    assert m["macro"]["specificity"] == pytest.approx(imb.specificity_score(y, yp, average="macro"))
    assert m["weighted"]["specificity"] == pytest.approx(imb.specificity_score(y, yp, average="weighted"))
    assert [m["per_class"][name]["support"] for name in NAMES3] == np.bincount(y).tolist()
    assert m["confusion_matrix"] == {"labels": NAMES3, "matrix": skm.confusion_matrix(y, yp).tolist()}
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
    assert m["mauc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovo"))
    assert m["g_mean"] == pytest.approx(imb.geometric_mean_score(y, yp))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p, labels=[0, 1, 2], scale_by_half=False))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, yp))
    assert m["top2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, p, k=2))
    assert m["quadratic_kappa"] == pytest.approx(skm.cohen_kappa_score(y, yp, weights="quadratic"))
    assert 0.0 <= m["ece"] <= 1.0
    for leaf in walk(m):
        assert leaf is None or type(leaf) in (int, float, str), type(leaf)
    json.dumps(m, allow_nan=False)


@pytest.mark.filterwarnings("ignore::dermkit.metrics.functional.UndefinedMetricWarning")  # t=0 / t=1
@pytest.mark.parametrize("threshold", [None, 0.0, 0.2, 0.5, 0.8, 1.0])
def test_binary_threshold(threshold: float | None) -> None:
    y, p = make_data(5, 2)
    m = classification_metrics(y, p, NAMES2, threshold=threshold)
    assert set(m) == TOP_KEYS and m["mauc"] is None and m["threshold"] == threshold
    yp = p.argmax(axis=1) if threshold is None else (p[:, 1] >= threshold).astype(int)
    assert m["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, yp, labels=[0, 1]).tolist()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, yp))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))  # threshold-free
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, p[:, 1]))
    assert m["brier"] == pytest.approx(2 * skm.brier_score_loss(y, p[:, 1]))


def test_absent_and_never_predicted_classes_are_nan_and_listed() -> None:
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]] * 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = classification_metrics(y, p, NAMES3)
    undefined_warnings = [w for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    assert len(undefined_warnings) == 1
    sk = m["per_class"]["seborrheic_keratosis"]
    assert math.isnan(sk["precision"]) and math.isnan(sk["recall"]) and math.isnan(sk["f1"])
    assert type(sk["precision"]) is float and sk["support"] == 0 and sk["specificity"] == 1.0
    for entry in (
        "precision/seborrheic_keratosis",
        "recall/seborrheic_keratosis",
        "roc_auc/seborrheic_keratosis",
        "mauc/seborrheic_keratosis",
    ):
        assert entry in m["undefined"]
    assert m["confusion_matrix"]["matrix"][2] == [0, 0, 0]
    assert m["accuracy"] == 1.0 and m["macro"]["recall"] == 1.0 and m["roc_auc"] == 1.0
    text = json.dumps(m)  # NaN -> the JSON writer's job; here just check it round-trips
    assert "NaN" in text


def test_single_class_data() -> None:
    y = np.zeros(4, dtype=int)
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    with pytest.warns(UndefinedMetricWarning):
        m = classification_metrics(y, p, NAMES2)
    assert math.isnan(m["roc_auc"]) and "roc_auc" in m["undefined"]
    assert math.isnan(m["average_precision"]) and "recall/malignant" in m["undefined"]
    assert m["accuracy"] == 0.75


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_names": ["a", "b"]}, "class names"),
        ({"class_names": ["a", "a", "b"]}, "unique"),
        ({"class_names": NAMES3, "threshold": 0.5}, "binary"),
    ],
)
def test_invalid_arguments(kwargs: dict, match: str) -> None:
    y, p = make_data(0, 3, 20)
    with pytest.raises(MetricInputError, match=match):
        classification_metrics(y, p, **kwargs)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_outside_unit_interval(threshold: float) -> None:
    y, p = make_data(0, 2, 20)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classification_metrics(y, p, NAMES2, threshold=threshold)


def test_format_summary() -> None:
    y, p = make_data(1, 3, 60)
    m = classification_metrics(y, p, NAMES3)
    text = format_summary(m)
    for needle in (*NAMES3, "accuracy", "balanced accuracy", "ROC-AUC", "log loss", "macro avg", "confusion matrix"):
        assert needle in text
    assert f"{m['accuracy']:.4f}" in text
    cm_lines = text.splitlines()[-3:]
    for name, line, row in zip(NAMES3, cm_lines, m["confusion_matrix"]["matrix"], strict=True):
        assert line.split() == [name, *map(str, row)]
    # works on the JSON round-trip, where NaN became null
    y2 = np.array([0, 0, 1, 1])
    with pytest.warns(UndefinedMetricWarning):
        m2 = classification_metrics(y2, np.tile([0.5, 0.3, 0.2], (4, 1)), NAMES3)
    reloaded = json.loads(json.dumps(m2).replace("NaN", "null"))
    assert "n/a" in format_summary(reloaded)
