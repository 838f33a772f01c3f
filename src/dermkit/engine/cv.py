"""Repeated evaluation protocols: stratified (patient-grouped) k-fold cross-validation and repeated random splits.

Each fold trains a fresh model on the other folds (holding out ``data.val_fraction`` of them for model selection,
never the test fold), evaluates it on its test fold, and contributes one row; the summary is mean +/- standard
deviation across folds, as the SPBL project reports P, R, F1, G-mean, MAUC and accuracy over repeated splits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.config import RunConfig
from dermkit.data.duplicates import leak_free_groups
from dermkit.data.records import ImageTable
from dermkit.data.splits import kfold_assign, stratified_group_split
from dermkit.engine.setup import read_training_table, training_data
from dermkit.engine.train import train
from dermkit.errors import ConfigError
from dermkit.evaluation.evaluate import evaluate
from dermkit.fileio import check_output, write_csv, write_json
from dermkit.inference.predictor import Predictor
from dermkit.progress import Reporter, silent
from dermkit.reports.numbers import as_number
from dermkit.tasks import get_task

log = logging.getLogger("dermkit")


@dataclass
class CVResult:
    """Per-fold metrics and their mean and standard deviation."""

    rows: list[dict[str, Any]]
    summary: dict[str, dict[str, float | None]]
    out_dir: Path
    protocol: str
    fold_metrics: list[dict[str, Any]] = field(default_factory=list)


def headline_row(metrics: dict[str, Any], names: Sequence[str]) -> dict[str, float | None]:
    """The CV metrics ``names`` of one evaluation, flattened (macro averages under ``macro_<name>``)."""
    flat = {f"macro_{key}": value for key, value in (metrics.get("macro") or {}).items()}
    flat.update({key: value for key, value in metrics.items() if isinstance(value, (int, float))})
    return {name: as_number(flat.get(name)) for name in names}


def summarise(rows: list[dict[str, Any]], names: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """Mean and sample standard deviation (ddof=1) of each metric over the folds where it is defined."""
    summary = {}
    for name in names:
        values = np.array([row[name] for row in rows if row.get(name) is not None], dtype=float)
        summary[name] = {
            "mean": float(values.mean()) if values.size else None,
            "std": float(values.std(ddof=1)) if values.size > 1 else None,
            "folds": int(values.size),
        }
    return summary


def _split_folds(
    table: ImageTable, config: RunConfig, folds: int, repeats: int, test_fraction: float, progress: Reporter
) -> tuple[list[np.ndarray], list[int], str]:
    """Test masks of k stratified folds (or random repeats), the leak-free groups and a description."""
    labels = table.labels()
    patients = [record.group for record in table.records]
    # patients and byte-identical files never straddle a train/test boundary
    with progress(None, "hashing files", "files") as step:
        groups, _ = leak_free_groups([r.path for r in table.records], patients, skip_unreadable=True, progress=step)
    if repeats > 0:
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"--test-fraction must be in (0, 1), got {test_fraction}")
        assignments = [stratified_group_split(labels, {"train": 1 - test_fraction, "test": test_fraction},
                                              groups=groups, seed=config.seed + r)
                       for r in range(repeats)]  # fmt: skip
        masks = [np.array([split == "test" for split in assigned]) for assigned in assignments]
        protocol = f"{repeats} random stratified splits ({test_fraction:.0%} test)"
    else:
        if folds < 2:
            raise ConfigError(f"--folds must be >= 2, got {folds}")
        fold_of = np.array(kfold_assign(labels, folds, groups=groups, seed=config.seed))
        masks = [fold_of == k for k in range(folds)]
        protocol = f"stratified {folds}-fold cross-validation"
    return masks, list(groups), protocol + (", patient-grouped" if any(patients) else "")


def _fold_tables(
    config: RunConfig, folds: int, repeats: int, test_fraction: float, published: bool, progress: Reporter
) -> tuple:
    """``[(pool, test, pool_groups)]`` per fold, the data source and the protocol description."""
    if published:  # the dataset's own fold files (ACNE04's NNEW_trainval_k / NNEW_test_k)
        from dermkit.data.acne04 import acne04_fold_files

        found = acne04_fold_files(Path(str(config.data.root)).expanduser())
        tables = [read_training_table(config.model_copy(update={"data": config.data.model_copy(update={"fold": k})}))
                  for k, _, _ in found]  # fmt: skip
        parts = [(t.subset("train"), t.subset("test"), None) for t in tables]
        return parts, tables[0].source, f"the dataset's {len(found)} published folds"
    table = read_training_table(config)
    table = table.with_records([replace(record, split=None) for record in table.records])
    masks, groups, protocol = _split_folds(table, config, folds, repeats, test_fraction, progress)
    parts = []
    for mask in masks:
        test = table.with_records([r for r, t in zip(table.records, mask, strict=True) if t])
        pool = table.with_records([r for r, t in zip(table.records, mask, strict=True) if not t])
        parts.append((pool, test, [g for g, t in zip(groups, mask, strict=True) if not t]))  # hashed once above
    return parts, table.source, protocol


def cross_validate(
    config: RunConfig,
    out_dir: str | Path,
    *,
    folds: int = 5,
    repeats: int = 0,
    test_fraction: float = 0.2,
    folds_from_files: bool = False,
    overwrite: bool = False,
    num_workers: int | None = None,
    log_fn: Callable[[str], object] = log.info,
    progress: Reporter = silent,
) -> CVResult:
    """Train and test once per fold; write ``cv_results.csv`` and ``cv_results.json`` into ``out_dir``.

    Args:
        config: the recipe (its ``data.root`` is pooled: existing splits are ignored, unless ``folds_from_files``).
        out_dir: gets one run folder per fold (``fold_0``...) and the result tables.
        folds: k of stratified k-fold (patients kept within one fold when the data has patient ids).
        repeats: when > 0, this many random stratified train/test splits instead of k folds.
        test_fraction: test share of each random split.
        folds_from_files: run the dataset's published folds (ACNE04's five ``NNEW_*_k.txt`` pairs) instead.
        overwrite: replace earlier fold runs.
        num_workers: decoding processes for evaluation (default ``data.num_workers``).
        log_fn: where progress lines go.
        progress: shows the duplicate search, the folds and each fold's evaluation (:mod:`dermkit.progress`).
    """
    out_dir = check_output(out_dir, "folder")
    parts, source, protocol = _fold_tables(config, folds, repeats, test_fraction, folds_from_files, progress)
    names = get_task(config.task_name).headline()
    rows, fold_metrics = [], []
    # each fold trains with Lightning's own bar: the folds report in plain lines (live=False), not a bar around it
    for k, (pool, test, pool_groups) in enumerate(progress(parts, "cross-validation", "folds", live=False)):
        log_fn(f"fold {k + 1}/{len(parts)}: train+val {len(pool)}, test {len(test)} images")
        data = training_data(pool, config.data.val_fraction, config.seed + k, pool_groups)
        run_dir = out_dir / f"fold_{k}"
        if not train(config, run_dir, overwrite=overwrite, data=data).primary:
            continue  # under DDP every process trains; only global rank 0 evaluates and writes
        result = evaluate(Predictor.from_checkpoint(run_dir), test, batch_size=config.data.eval_batch_size
                          or config.data.batch_size, num_workers=config.data.num_workers if num_workers is None
                          else num_workers, progress=progress)  # fmt: skip
        write_json(run_dir / "test_metrics.json", result.metrics)
        fold_metrics.append(result.metrics)
        rows.append({"fold": k, "n_test": len(test), **headline_row(result.metrics, names)})
    if not rows:
        return CVResult([], {}, out_dir, protocol, [])
    summary = summarise(rows, names)
    header = ["fold", "n_test", *names]
    table_rows = [[row[key] if row[key] is not None else "" for key in header] for row in rows]
    for stat in ("mean", "std"):
        table_rows.append([stat, "", *(summary[name][stat] if summary[name][stat] is not None else ""
                                       for name in names)])  # fmt: skip
    write_csv(out_dir / "cv_results.csv", header, table_rows)
    write_json(out_dir / "cv_results.json", {"protocol": protocol, "source": source, "metrics": names,
                                              "folds": rows, "summary": summary})  # fmt: skip
    return CVResult(rows, summary, out_dir, protocol, fold_metrics)
