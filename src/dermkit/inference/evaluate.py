"""Evaluate a predictor on a labelled dataset: metrics plus one prediction row per image.

The dataset's class names are matched to the model's by name, so a test folder that lacks a class (or lists classes
in another order) still evaluates correctly; a class the model does not know is a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.data.records import ImageTable
from dermkit.errors import DataError
from dermkit.fileio import write_csv
from dermkit.inference.predictor import Predictor
from dermkit.metrics.classification import classification_metrics

SPLIT_CHOICES = ("auto", "train", "val", "test", "all")


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes:
        metrics: JSON-ready metrics (see :func:`dermkit.metrics.classification.classification_metrics`).
        header: column names of ``rows`` (``path,label,predicted,p_<class>...,error``).
        rows: one row per image, in dataset order.
        proba: (N, C) probabilities (NaN rows for unreadable images).
        labels: (N,) true class indices in the model's class order.
        errors: per image, the error line or None.
    """

    metrics: dict[str, Any]
    header: list[str]
    rows: list[list[Any]]
    proba: np.ndarray
    labels: np.ndarray
    errors: list[str | None] = field(default_factory=list)

    def write_predictions(self, path: str | Path) -> Path:
        """Write ``predictions.csv`` atomically."""
        return write_csv(path, self.header, self.rows)


def select_split(table: ImageTable, split: str = "auto") -> tuple[ImageTable, str]:
    """The records to evaluate and a description: ``auto`` takes the test split, else val, else everything."""
    if split not in SPLIT_CHOICES:
        raise DataError(f"unknown split '{split}'; choose one of: {', '.join(SPLIT_CHOICES)}")
    present = table.splits
    if split == "auto":
        split = "test" if "test" in present else ("val" if "val" in present else "all")
    if split == "all":
        return table, f"all {len(table)} images"
    chosen = table.subset(split)
    if not chosen.records:
        raise DataError(f"{table.source}: no '{split}' split here (splits present: {', '.join(present) or 'none'})")
    return chosen, f"the {split} split ({len(chosen)} images)"


def align_labels(table: ImageTable, class_names: Sequence[str]) -> np.ndarray:
    """Labels of ``table`` as indices into ``class_names`` (the model's), matching classes by name."""
    index = {name: position for position, name in enumerate(class_names)}
    unknown = [name for name in table.class_names if name not in index]
    if unknown:
        raise DataError(
            f"{table.source}: class '{unknown[0]}' is not one the model knows; data classes: "
            f"{', '.join(table.class_names)}; model classes: {', '.join(class_names)}"
        )
    mapping = np.array([index[name] for name in table.class_names], dtype=np.int64)
    return mapping[np.asarray(table.labels(), dtype=np.int64)]


def prediction_rows(
    predictor: Predictor,
    paths: Sequence[str | Path],
    proba: np.ndarray,
    errors: Sequence[str | None],
    labels: Sequence[int] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a predictions CSV: ``path[,label],predicted,p_<class>...,error``."""
    names = predictor.class_names
    header = [
        "path",
        *(["label"] if labels is not None else []),
        "predicted",
        *(f"p_{name}" for name in names),
        "error",
    ]
    readable = ~np.isnan(proba).any(axis=1)
    decided = np.full(len(paths), -1)
    if readable.any():
        decided[readable] = predictor.decide(proba[readable])
    rows = []
    for i, path in enumerate(paths):
        label = [names[labels[i]]] if labels is not None else []
        if errors[i] is not None or not readable[i]:
            rows.append([str(path), *label, "", *([""] * len(names)), errors[i] or "unreadable"])
        else:
            rows.append([str(path), *label, names[decided[i]], *(f"{p:.6f}" for p in proba[i]), ""])
    return header, rows


def evaluate(predictor: Predictor, table: ImageTable, *, batch_size: int = 32, num_workers: int = 0) -> Evaluation:
    """Predict every image of ``table`` and compute the metrics on the readable ones.

    Args:
        predictor: the model.
        table: labelled records (already restricted to the split to evaluate).
        batch_size: images per forward pass.
        num_workers: decoding processes.
    """
    labels = align_labels(table, predictor.class_names)
    proba, errors = predictor.predict_records(table.records, batch_size=batch_size, num_workers=num_workers)
    readable = np.array([error is None for error in errors], dtype=bool)
    if not readable.any():
        raise DataError(f"{table.source}: none of the {len(table)} images could be read (first: {errors[0]})")
    metrics = classification_metrics(
        labels[readable], proba[readable], predictor.class_names, threshold=predictor.threshold
    )
    metrics["unreadable"] = int((~readable).sum())
    header, rows = prediction_rows(predictor, [r.path for r in table.records], proba, errors, labels)
    return Evaluation(metrics, header, rows, proba, labels, list(errors))
