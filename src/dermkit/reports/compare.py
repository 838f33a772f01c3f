"""``dermkit compare``: the headline metrics of several runs side by side.

A run is any of: a training run folder (its latest ``eval*/metrics.json`` if it has been evaluated, else the
validation metrics stored in ``model.json``), an evaluation folder or ``metrics.json`` file, or a cross-validation
folder (``cv_results.json``: mean +/- std over folds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermkit.errors import DataError
from dermkit.metrics.names import METRICS
from dermkit.reports.numbers import as_number

COMPARE_METRICS = tuple(METRICS)
"""Every metric a run may hold; a table shows the rows some run has a value for."""


@dataclass
class RunMetrics:
    """One column of the comparison: where the numbers came from and their values (mean, std or None)."""

    name: str
    source: str
    values: dict[str, tuple[float | None, float | None]]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read metrics ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a metrics file")
    return data


def _from_metrics(metrics: dict[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    flat = dict(metrics)
    flat["macro_f1"] = (metrics.get("macro") or {}).get("f1")
    return {name: (as_number(flat.get(name)), None) for name in COMPARE_METRICS}


def load_run_metrics(path: str | Path) -> RunMetrics:
    """The metrics a path holds (see the module docstring for what counts as a run)."""
    path = Path(path)
    if path.is_file():
        return RunMetrics(path.parent.name or str(path), str(path), _from_metrics(_read_json(path)))
    if not path.is_dir():
        raise DataError(f"{path}: no such run folder or metrics file")
    if (path / "cv_results.json").is_file():
        summary = _read_json(path / "cv_results.json").get("summary", {})
        values = {name: (as_number((summary.get(name) or {}).get("mean")),
                         as_number((summary.get(name) or {}).get("std"))) for name in COMPARE_METRICS}  # fmt: skip
        return RunMetrics(path.name, str(path / "cv_results.json"), values)
    evaluations = sorted(path.glob("eval*/metrics.json"), key=lambda p: p.stat().st_mtime)
    if (path / "metrics.json").is_file():
        evaluations.append(path / "metrics.json")
    if evaluations:
        latest = evaluations[-1]
        return RunMetrics(path.name, str(latest), _from_metrics(_read_json(latest)))
    if (path / "model.json").is_file():
        validation = _read_json(path / "model.json").get("metrics", {}).get("val")
        if validation:
            return RunMetrics(path.name, f"{path / 'model.json'} (validation)", _from_metrics(validation))
    raise DataError(f"{path}: holds no metrics (train, evaluate or cv it first)")


def parse_metric_names(text: str | None) -> tuple[str, ...]:
    """``"accuracy,roc_auc"`` -> the names, checked; None -> every comparable metric."""
    if not text:
        return COMPARE_METRICS
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in COMPARE_METRICS]
    if unknown or not names:
        raise DataError(
            f"unknown metric '{unknown[0] if unknown else text}'; choose from: {', '.join(COMPARE_METRICS)}"
        )
    return names


def format_comparison(runs: list[RunMetrics], metrics: tuple[str, ...] = COMPARE_METRICS) -> str:
    """A plain-text table: one row per metric, one column per run; mean +/- std for cross-validation runs."""
    names = [run.name for run in runs]
    cells = [[_cell(*run.values[metric]) for run in runs] for metric in metrics]
    width = max([len(metric) for metric in metrics] + [6])
    columns = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(names)]
    lines = ["  ".join([" " * width, *(name.rjust(columns[i]) for i, name in enumerate(names))])]
    for metric, row in zip(metrics, cells, strict=True):
        if all(cell == "-" for cell in row):
            continue
        lines.append("  ".join([metric.ljust(width), *(cell.rjust(columns[i]) for i, cell in enumerate(row))]))
    lines.append("")
    lines.extend(f"{run.name}: {run.source}" for run in runs)
    return "\n".join(lines)


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.4f} +/- {std:.4f}" if std is not None else f"{mean:.4f}"
