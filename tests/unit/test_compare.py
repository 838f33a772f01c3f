"""`dermkit compare` reads every kind of run and lines their metrics up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dermkit.errors import DataError
from dermkit.reports.compare import format_comparison, load_run_metrics, parse_metric_names


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_each_kind_of_run_is_read(tmp_path: Path) -> None:
    write(tmp_path / "trained" / "model.json", {"metrics": {"val": {"accuracy": 0.8, "macro": {"f1": 0.7}}}})
    write(tmp_path / "evaluated" / "model.json", {"metrics": {"val": {"accuracy": 0.1}}})
    write(tmp_path / "evaluated" / "eval" / "metrics.json", {"accuracy": 0.9, "roc_auc": None})
    write(tmp_path / "cv" / "cv_results.json", {"summary": {"accuracy": {"mean": 0.85, "std": 0.02}}})
    single = write(tmp_path / "m" / "metrics.json", {"accuracy": 0.75})
    runs = [load_run_metrics(tmp_path / name) for name in ("trained", "evaluated", "cv")] + [load_run_metrics(single)]
    assert [run.values["accuracy"] for run in runs] == [(0.8, None), (0.9, None), (0.85, 0.02), (0.75, None)]
    assert runs[0].values["macro_f1"] == (0.7, None) and runs[1].values["roc_auc"] == (None, None)
    assert runs[0].source.endswith("(validation)") and runs[1].source.endswith("metrics.json")
    table = format_comparison(runs)
    assert "0.8500 +/- 0.0200" in table and "roc_auc" not in table.splitlines()[1]  # empty rows are dropped


def test_unknown_paths_and_metric_names_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such run folder"):
        load_run_metrics(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no metrics"):
        load_run_metrics(tmp_path / "empty")
    with pytest.raises(DataError, match="unknown metric 'acc'; choose from: accuracy"):
        parse_metric_names("acc,roc_auc")
    assert parse_metric_names("roc_auc, ece") == ("roc_auc", "ece")
