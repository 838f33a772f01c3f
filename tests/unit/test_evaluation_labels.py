"""dermkit.evaluation.labels: matching a dataset's classes to a model's by name, and the hint for index labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dermkit.data.records import ImageTable, Record
from dermkit.errors import DataError
from dermkit.evaluation.labels import align_labels


def _table(class_names: list[str], labels: list[int]) -> ImageTable:
    records = [Record(Path(f"img_{i}.jpg"), label) for i, label in enumerate(labels)]
    return ImageTable(records, class_names, source="lists/test.txt")


def test_labels_follow_the_models_class_order_by_name() -> None:
    table = _table(["malignant", "benign"], [0, 1, 1])
    assert align_labels(table, ["benign", "malignant"]).tolist() == [1, 0, 0]


def test_index_labels_get_the_exact_class_names_argument_in_the_models_order() -> None:
    table = _table(["0", "1"], [0, 1])
    with pytest.raises(DataError, match=r"data\.class_names=\[benign,malignant\]$"):
        align_labels(table, ["benign", "malignant"])


def test_an_unknown_named_class_still_suggests_class_map() -> None:
    with pytest.raises(DataError, match="--class-map"):
        align_labels(_table(["nevus", "melanoma"], [0, 1]), ["benign", "malignant"])
    assert np.array_equal(align_labels(_table(["nevus"], [0]), ["benign"], {"nevus": "benign"}), [0])
