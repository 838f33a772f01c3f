"""Prediction tables: one CSV row per image, in input order, with an ``error`` column for unreadable ones.

The columns between ``path`` and ``error`` are the model's task's (:meth:`dermkit.tasks.Task.csv_header`): for a
classifier ``predicted,p_<class>...``; for acne ``grade,count,p_<grade>...``. :func:`predict_to_csv` streams the rows
batch by batch (:mod:`dermkit.csvstream`), so an archive of any size predicts in flat memory and an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermkit.csvstream import stream_csv
from dermkit.data.records import Record
from dermkit.errors import OutputPathError

if TYPE_CHECKING:  # pragma: no cover  (either predictor: the ONNX one runs without torch)
    from dermkit.inference.predictor import Predictor


def prediction_header(predictor: Predictor, labelled: bool = False) -> list[str]:
    """Columns of a predictions CSV: ``path``, the task's columns (the truth first when ``labelled``), ``error``."""
    return ["path", *predictor.task.csv_header(predictor.spec, labelled), "error"]


def prediction_rows(
    predictor: Predictor,
    paths: Sequence[str | Path],
    outputs: Mapping[str, np.ndarray],
    errors: Sequence[str | None],
    targets: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a predictions CSV: ``path``, the task's columns, ``error``; one row per path."""
    readable = np.array([error is None for error in errors], dtype=bool)
    if "proba" in outputs:
        readable &= ~np.isnan(outputs["proba"]).any(axis=1)
    header = prediction_header(predictor, targets is not None)
    cells = predictor.task.csv_rows(predictor.spec, outputs, readable, targets)
    rows = [[str(path), *row, "" if ok else (errors[i] or "unreadable")]
            for i, (path, row, ok) in enumerate(zip(paths, cells, readable, strict=True))]  # fmt: skip
    return header, rows


@dataclass
class PredictSummary:
    """What :func:`predict_to_csv` wrote: ``total`` rows, the errors among them, and how many an earlier
    (interrupted) run had written (``resumed``)."""

    path: Path
    total: int
    errors: list[str]
    resumed: int = 0


def predict_to_csv(
    predictor: Predictor,
    records: Sequence[Record],
    out: str | Path,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = False,
) -> PredictSummary:
    """Predict ``records`` into the CSV ``out`` (``path``, the task's columns, ``error``), one row per record in order.

    Rows go to ``<out>.partial`` after each batch and the file is renamed onto ``out`` when all are written: memory
    does not grow with the number of images, and an interruption loses at most one batch. ``resume`` keeps the rows of
    an interrupted run (its ``.partial``, or a finished ``out``) and predicts only the records after them.
    ``progress(done, total)`` is called after each batch.

    Raises:
        OutputPathError: ``out`` cannot be written (checked before predicting), the disk filled up, or the rows to
            resume belong to other inputs.
    """
    paths = [str(record.path) for record in records]
    errors: list[str] = []

    def check_row(index: int, cells: list[str]) -> None:
        expected = paths[index] if index < len(paths) else "(no such input)"
        if cells[0] != expected:
            raise OutputPathError(
                f"{out}: cannot resume: row {index + 1} is {cells[0]} but input {index + 1} is "
                f"{expected}; the rows are from other inputs: drop --resume to start over"
            )
        if cells[-1]:
            errors.append(cells[-1])

    with stream_csv(out, prediction_header(predictor), resume=resume, check_row=check_row) as stream:
        rest = records[stream.kept :]
        if progress is not None and stream.kept:
            progress(stream.kept, len(records))
        for start, chunk in predictor.iter_records(rest, batch_size=batch_size, num_workers=num_workers):
            first = stream.kept + start
            stream.write(
                prediction_rows(predictor, paths[first : first + len(chunk.errors)], chunk.outputs, chunk.errors)[1]
            )
            errors.extend(error for error in chunk.errors if error is not None)
            if progress is not None:
                progress(first + len(chunk.errors), len(records))
    return PredictSummary(stream.path, len(records), errors, stream.kept)
