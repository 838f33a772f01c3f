"""Streaming metric modules agree with the pure functions and reference implementations over many batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imblearn.metrics import geometric_mean_score
from sklearn import metrics as skm
from torchmetrics.classification import MulticlassCalibrationError

from dermkit.metrics.calibration import expected_calibration_error
from dermkit.metrics.modules import MulticlassGMean, ProbabilityMetric
from dermkit.tasks.classify_training import ClassifyTask


@pytest.mark.parametrize(("classes", "seed"), [(2, 0), (4, 1), (7, 2)])
def test_streaming_gmean_equals_imblearn_over_batches(classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, 500)
    proba = rng.dirichlet(np.ones(classes), 500) + 0.8 * np.eye(classes)[y]
    metric = MulticlassGMean(classes)
    for chunk in np.array_split(np.arange(500), 7):
        metric.update(torch.as_tensor(proba[chunk]), torch.as_tensor(y[chunk]))
    expected = geometric_mean_score(y, proba.argmax(1), average="multiclass")
    assert metric.compute().item() == pytest.approx(expected)


def test_gmean_ignores_absent_classes_and_is_zero_with_a_missed_class() -> None:
    metric = MulticlassGMean(3)
    metric.update(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 1, 1]))
    assert metric.compute().item() == pytest.approx(1.0)  # class 2 never appeared
    metric.update(torch.tensor([0]), torch.tensor([2]))
    assert metric.compute().item() == 0.0
    with pytest.raises(ValueError, match="num_classes"):
        MulticlassGMean(1)


def test_torchmetrics_calibration_error_matches_our_ece() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 800)
    proba = rng.dirichlet(np.ones(3) * 0.5, 800)
    metric = MulticlassCalibrationError(3, n_bins=15, norm="l1")
    metric.update(torch.as_tensor(proba, dtype=torch.float32), torch.as_tensor(y))
    assert metric.compute().item() == pytest.approx(expected_calibration_error(y, proba), abs=1e-5)


def test_classify_task_logs_the_streaming_metrics() -> None:
    task = ClassifyTask(torch.nn.Identity(), torch.nn.CrossEntropyLoss(), num_classes=3)
    assert set(task.make_metrics().keys()) == {"acc", "balanced_acc", "f1", "auroc", "g_mean", "ece"}


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("mauc", lambda y, p: skm.roc_auc_score(y, p, multi_class="ovo", average="macro")),
        ("roc_auc", lambda y, p: skm.roc_auc_score(y, p, multi_class="ovr", average="macro")),
        ("top2_accuracy", lambda y, p: skm.top_k_accuracy_score(y, p, k=2)),
        ("cohen_kappa", lambda y, p: skm.cohen_kappa_score(y, p.argmax(axis=1))),
        ("log_loss", skm.log_loss),
    ],
)
def test_probability_metric_over_batches_equals_sklearn(name: str, reference) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.2 * np.eye(4)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    metric = ProbabilityMetric(name)
    for start in range(0, 300, 64):
        metric.update(torch.from_numpy(proba[start : start + 64]), torch.from_numpy(y[start : start + 64]))
    assert metric.compute().item() == pytest.approx(reference(y, proba))
    metric.reset()
    metric.update(torch.from_numpy(proba[:50]), torch.from_numpy(y[:50]))
    assert metric.compute().item() == pytest.approx(reference(y[:50], proba[:50]))


def test_probability_metric_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown metric 'auroc'; valid metrics:"):
        ProbabilityMetric("auroc")
