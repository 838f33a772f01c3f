"""Prediction tables: one CSV row per image, in input order, with an ``error`` column for unreadable ones.

The columns between ``path`` and ``error`` are the model's task's (:meth:`dermkit.tasks.Task.csv_header`): for a
classifier ``predicted,p_<class>...``; for acne ``grade,count,p_<grade>...``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermkit.data.records import Record
from dermkit.fileio import write_csv

if TYPE_CHECKING:  # pragma: no cover  (either predictor: the ONNX one runs without torch)
    from dermkit.inference.predictor import Predictor


def prediction_rows(
    predictor: Predictor,
    paths: Sequence[str | Path],
    outputs: Mapping[str, np.ndarray],
    errors: Sequence[str | None],
    targets: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a predictions CSV: ``path``, the task's columns, ``error``; one row per path."""
    task, spec = predictor.task, predictor.spec
    readable = np.array([error is None for error in errors], dtype=bool)
    if "proba" in outputs:
        readable &= ~np.isnan(outputs["proba"]).any(axis=1)
    header = ["path", *task.csv_header(spec, targets is not None), "error"]
    cells = task.csv_rows(spec, outputs, readable, targets)
    rows = [[str(path), *row, "" if ok else (errors[i] or "unreadable")]
            for i, (path, row, ok) in enumerate(zip(paths, cells, readable, strict=True))]  # fmt: skip
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
    """Predict ``records`` and write ``out`` atomically (``path``, the task's columns, ``error``); ``progress(done,
    total)`` is called after each batch."""
    result = predictor.predict_records(records, batch_size=batch_size, num_workers=num_workers, progress=progress)
    header, rows = prediction_rows(predictor, [record.path for record in records], result.outputs, result.errors)
    path = write_csv(out, header, rows)
    return PredictSummary(path, len(records), [error for error in result.errors if error is not None])
