"""Long-tail reporting: the metrics evaluate adds for multi-class models, audit's shot groups, long-tailed synth."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from PIL import Image
from sklearn.metrics import precision_score, recall_score

from dermkit.cli import main
from dermkit.data import read_dataset
from dermkit.data.audit import audit_dataset
from dermkit.data.records import ImageTable, Record
from dermkit.data.synthetic import long_tail_counts
from dermkit.errors import DataError
from dermkit.metrics.classification import classification_metrics
from dermkit.metrics.functional import UndefinedMetricWarning
from dermkit.reports.summary import format_summary

NAMES = ["a", "b", "c", "d"]


def test_multiclass_metrics_add_spbl_variants_and_shot_accuracies() -> None:
    y = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    pred = np.array([0, 0, 1, 1, 0, 2, 1, 0, 0, 0])  # class 3 never recalled
    proba = np.eye(4)[pred] * 0.7 + 0.075
    with pytest.warns(UndefinedMetricWarning, match="precision/d"):  # class d is never predicted
        m = classification_metrics(y, proba, NAMES, train_counts=[150, 60, 30, 5])
    assert m["g_mean"] == 0.0
    assert m["g_mean_spbl"] == pytest.approx(geometric_mean_score(y, pred, correction=0.001))
    p_w = precision_score(y, pred, average="weighted", zero_division=0)
    r_w = recall_score(y, pred, average="weighted")
    assert m["weighted_pr_harmonic"] == pytest.approx(2 * p_w * r_w / (p_w + r_w))
    # many: class 0 (2 of 3 right); medium: classes 1 and 2 (1 of 2 and 1 of 2); few: class 3 (0 of 3)
    assert (m["many_shot_accuracy"], m["medium_shot_accuracy"], m["few_shot_accuracy"]) == (2 / 3, 0.5, 0.0)
    assert m["shots"] == {"classes": {"many": 1, "medium": 2, "few": 1}, "many_above": 100, "few_below": 20}
    text = format_summary(m)
    assert re.search(r"G-mean \(SPBL: zero recall 0\.001\) +0\.1136", text)  # (2/3 * 1/2 * 1/2 * 0.001) ** (1/4)
    assert re.search(r"many / medium / few-shot accuracy +0\.6667 / 0\.5000 / 0\.0000", text)


def test_binary_metrics_keep_their_keys_and_shots_need_one_count_per_class() -> None:
    y, proba = np.array([0, 1, 1, 0]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    assert "g_mean_spbl" not in classification_metrics(y, proba, ["x", "y"], train_counts=[5, 5])
    with pytest.raises(ValueError, match="train_counts has 2 values for 4 classes"):
        classification_metrics(np.arange(4), np.eye(4), NAMES, train_counts=[1, 2])


def _one_image(tmp_path: Path) -> Path:
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


def test_audit_counts_classes_per_shot_group_on_training_images(tmp_path: Path) -> None:
    path = _one_image(tmp_path)
    sizes = {"train": [150, 101, 100, 20, 19, 0], "test": [30, 30, 30, 30, 30, 30]}
    records = [
        Record(path, label, split)
        for split, counts in sizes.items()
        for label, n in enumerate(counts)
        for _ in range(n)
    ]
    table = ImageTable(records, [f"c{k}" for k in range(6)], source="lt")
    report = audit_dataset(table, decode=False)
    assert report.shots == {
        "many": 2,
        "medium": 2,
        "few": 2,
        "many_above": 100,
        "few_below": 20,
        "counted": "train split",
    }
    assert report.imbalance_ratio == 6.0  # over all images: 180 (c0) / 30 (c5, test images only)
    line = "classes by training images (train split): many-shot (> 100) 2, medium (20-100) 2, few-shot (< 20) 2"
    assert line in report.summary_lines()
    custom = audit_dataset(table, decode=False, many=149, few=0).shots
    assert (custom["many"], custom["medium"], custom["few"]) == (1, 5, 0)
    with pytest.raises(DataError, match="shot thresholds need 0 <= few <= many, got few=50 and many=10"):
        audit_dataset(table, decode=False, many=10, few=50)


def test_synth_writes_a_long_tail_and_audit_prints_its_ratio_and_shots(tmp_path: Path, capsys) -> None:
    assert long_tail_counts(3, 100, 100) == [100, 10, 1]
    counts = long_tail_counts(30, 100, 100)
    assert counts[0] == 100 and counts[-1] == 1 and all(a >= b for a, b in itertools.pairwise(counts))
    assert (
        main(["synth", str(tmp_path / "lt"), "--classes", "5", "--per-class", "24", "--imbalance", "8", "--size", "16"])
        == 0
    )
    table = read_dataset(tmp_path / "lt")
    assert table.class_names == [f"class_{k}" for k in range(5)] and table.class_counts() == [24, 14, 8, 5, 3]
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "lt"), "--no-decode", "--many", "10", "--few", "5"]) == 0
    out = capsys.readouterr().out
    assert "imbalance ratio (largest / smallest class): 8.00" in out
    assert "classes by training images (all images): many-shot (> 10) 2, medium (5-10) 2, few-shot (< 5) 1" in out
    assert main(["synth", str(tmp_path / "acne"), "--task", "acne", "--imbalance", "4"]) == 2
    assert "error: --imbalance applies to --task classify" in capsys.readouterr().err
