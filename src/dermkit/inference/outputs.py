"""Prediction tables: one CSV row per image, in input order, with an ``error`` column for unreadable ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.data.records import Record
from dermkit.fileio import write_csv
from dermkit.inference.predictor import Predictor


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


@dataclass
class PredictSummary:
    """What :func:`predict_to_csv` wrote."""

    path: Path
    total: int
    errors: list[str]


def predict_to_csv(
    predictor: Predictor,
    records: Sequence[Record],
    out: str | Path,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> PredictSummary:
    """Predict ``records`` and write ``out`` atomically (``path,predicted,p_<class>...,error``); ``progress(done,
    total)`` is called after each batch."""
    result = predictor.predict_records(records, batch_size=batch_size, num_workers=num_workers, progress=progress)
    header, rows = prediction_rows(predictor, [record.path for record in records], result.proba, result.errors)
    path = write_csv(out, header, rows)
    return PredictSummary(path, len(records), [error for error in result.errors if error is not None])
