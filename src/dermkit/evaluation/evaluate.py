"""Evaluate a predictor on labelled data, whatever its task: each task's hooks decide the metrics and the columns.

:func:`evaluate` dispatches on ``model.json``'s task; :func:`evaluate_with_hooks` is the evaluation every task gets
from its hooks (metrics, bootstrap CIs resampling patients, subgroups, one CSV row per image).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.data.records import ImageTable
from dermkit.errors import ConfigError, DataError, NothingReadableError
from dermkit.fileio import write_csv
from dermkit.inference.outputs import prediction_rows
from dermkit.metrics.headline import bootstrap_metrics, subgroup_metrics
from dermkit.progress import Reporter, silent

SPLIT_CHOICES = ("auto", "train", "val", "test", "all")


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes:
        metrics: JSON-ready metrics (the task's: for classify see
            :func:`dermkit.metrics.classification.classification_metrics`, plus ``operating_points`` (binary)), plus
            ``ci`` (with ``bootstrap``), ``subgroups`` (with ``group_by``), ``unreadable`` and ``warnings``.
        header: column names of ``rows`` (``path``, the task's columns, ``error``).
        rows: one row per image, in dataset order.
        proba: (N, C) class probabilities (NaN rows for unreadable images).
        logits: (N, K) raw logits (classify, for calibration; (N, 0) for other tasks).
        labels: (N,) true class indices in the model's class order.
        errors: per image, the error line or None.
        paths: per image, its path.
        outputs: every post-processed output of the task (N rows each).
        targets: the true values in the model's terms (N rows each).
        spec: the model description the metrics were computed under (with a threshold chosen on this data).
    """

    metrics: dict[str, Any]
    header: list[str]
    rows: list[list[Any]]
    proba: np.ndarray
    logits: np.ndarray
    labels: np.ndarray
    errors: list[str | None] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    spec: Any = None

    @property
    def readable(self) -> np.ndarray:
        return np.array([error is None for error in self.errors], dtype=bool)

    def write_predictions(self, path: str | Path) -> Path:
        """Write ``predictions.csv`` atomically."""
        return write_csv(path, self.header, self.rows)


def select_split(
    table: ImageTable, split: str = "auto", prefer: Sequence[str] = ("test", "val")
) -> tuple[ImageTable, str]:
    """The records to evaluate and a description: ``auto`` takes the first split of ``prefer`` present, else all."""
    if split not in SPLIT_CHOICES:
        raise DataError(f"unknown split '{split}'; choose one of: {', '.join(SPLIT_CHOICES)}")
    present = table.splits
    if split == "auto":
        split = next((name for name in prefer if name in present), "all")
    if split == "all":
        return table, f"all {len(table)} images"
    chosen = table.subset(split)
    if not chosen.records:
        raise DataError(f"{table.source}: no '{split}' split here (splits present: {', '.join(present) or 'none'})")
    return chosen, f"the {split} split ({len(chosen)} images)"


def collect_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The distinct first lines of the warnings caught, in order."""
    seen: dict[str, None] = {}
    for item in caught:
        seen.setdefault(str(item.message).splitlines()[0], None)
    return list(seen)


def prediction_table(
    predictor: Any,
    table: ImageTable,
    outputs: Mapping[str, np.ndarray],
    errors: Sequence[str | None],
    targets: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a predictions CSV for the records of ``table`` (see :func:`prediction_rows`)."""
    return prediction_rows(predictor, [record.path for record in table.records], outputs, errors, targets)


def evaluate(predictor: Any, table: ImageTable, **options: Any) -> Evaluation:
    """Predict every image of ``table`` and compute the model's task's metrics on the readable ones.

    Args:
        predictor: the model (a :class:`dermkit.inference.Predictor`).
        table: labelled records (already restricted to the split to evaluate).
        **options: ``batch_size``, ``num_workers``, ``class_map``, ``bootstrap``, ``group_by``, ``seed``, and the
            task's own (classify: ``choose_threshold``).
    """
    return predictor.task.evaluate(predictor, table, **options)


def evaluate_with_hooks(
    task: Any,
    predictor: Any,
    table: ImageTable,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    class_map: Mapping[str, str] | None = None,
    bootstrap: int = 0,
    group_by: str | None = None,
    seed: int = 0,
    progress: Reporter = silent,
    result: Any = None,
    **unsupported: Any,
) -> Evaluation:
    """The evaluation of any task from its hooks (see :class:`dermkit.tasks.Task`): metrics on the readable rows,
    ``ci`` with ``bootstrap`` resamples (of patients when the records have ids), ``subgroups`` with ``group_by``;
    ``result`` (a :class:`~dermkit.inference.predictor.BatchResult` of ``table``'s records, e.g. merged from the
    shards of a sharded evaluation) replaces predicting here."""
    given = [key for key, value in unsupported.items() if value not in (None, False)]
    if given:
        raise ConfigError(f"{given[0]} does not apply to {task.name} models")
    if 0 < bootstrap < 100:
        raise ConfigError(f"--bootstrap {bootstrap}: a 95% interval needs at least 100 resamples (1000 recommended)")
    spec = predictor.spec
    targets = task.targets(table, spec, class_map)
    if result is None:
        with progress(len(table), "predicting", "images") as step:
            result = predictor.predict_records(table.records, batch_size=batch_size, num_workers=num_workers,
                                               progress=step)  # fmt: skip
    readable = result.readable
    if not readable.any():
        first = result.errors[0]
        raise NothingReadableError(f"{table.source}: none of the {len(table)} images could be read (first: {first})")
    outputs = {key: value[readable] for key, value in result.outputs.items()}
    known = {key: value[readable] for key, value in targets.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = task.metrics(spec, outputs, known)
    metrics["unreadable"] = int((~readable).sum())
    metrics["tta"] = predictor.tta or "none"
    metrics["warnings"] = collect_warnings(caught)
    records = [record for record, ok in zip(table.records, readable, strict=True) if ok]
    patients = [record.group for record in records]
    groups = patients if any(patients) else None
    y, packed = task.metric_arrays(outputs, known)
    functions = task.metric_functions(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics in a resample are reported as such in the intervals
        if bootstrap:
            with progress(bootstrap, "bootstrap", "resamples") as step:
                metrics["ci"] = bootstrap_metrics(functions, y, packed, n_resamples=bootstrap, groups=groups,
                                                  seed=seed, progress=step)  # fmt: skip
            unit = "patients" if groups is not None else "images"
            metrics["ci_method"] = f"95% percentile bootstrap, {bootstrap} resamples of {unit}"
        if group_by:
            values = [value for value, ok in zip(table.column_values(group_by), readable, strict=True) if ok]
            with progress(None, f"subgroups by {group_by}", "resamples" if bootstrap else "groups") as step:
                metrics["subgroups"] = {group_by: subgroup_metrics(y, packed, values, functions,
                                                                   n_resamples=bootstrap, groups=groups, seed=seed,
                                                                   progress=step)}  # fmt: skip
    header, rows = prediction_table(predictor, table, result.outputs, result.errors, targets)
    paths = [str(record.path) for record in table.records]
    labels = np.asarray(targets.get("label", np.full(len(table), -1)))
    empty = np.empty((len(table), 0))
    return Evaluation(metrics, header, rows, result.outputs.get("proba", empty), result.outputs.get("logits", empty),
                      labels, list(result.errors), paths, result.outputs, targets, spec)  # fmt: skip
