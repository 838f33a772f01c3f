"""Sharded evaluation: every process predicts its shard of the evaluation images, and the metrics are computed once,
on rank 0 (or by ``dermkit evaluate --merge``), over all the predictions put back in dataset order, so they are the
numbers a single process gives.

Each shard's raw predictions go to ``<out>/predictions.part-K-of-N.npz`` (arrays only, loaded without pickle): its
input indices, the fingerprint of the images it was cut from, the task's outputs and the per-image errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.data.records import ImageTable
from dermkit.errors import DataError
from dermkit.evaluation.evaluate import select_split
from dermkit.evaluation.pipeline import EvaluationRun, evaluate_to_folder, read_model_data
from dermkit.fileio import atomic_open, check_output
from dermkit.inference.runtime import BatchResult, load_predictor
from dermkit.inference.shards import Shard, input_digest, joined, on_every_rank
from dermkit.progress import Reporter, silent

log = logging.getLogger("dermkit")
PART_NAME = "predictions"


def save_part(path: Path, result: BatchResult, indices: Sequence[int], table: ImageTable) -> Path:
    """Write one shard's predictions (rows of ``indices`` of ``table``) as an ``.npz`` of plain arrays."""
    arrays = {f"output_{key}": value for key, value in result.outputs.items()}
    with atomic_open(path, "wb") as handle:
        np.savez(
            handle,
            indices=np.asarray(indices, dtype=np.int64),
            inputs=np.int64(len(table)),
            fingerprint=np.str_(input_digest(table.records)),
            errors=np.array([error or "" for error in result.errors], dtype=str),
            **arrays,
        )
    return path


def merge_result_parts(out: str | Path, table: ImageTable, count: int) -> BatchResult:
    """The predictions of all ``count`` parts in ``out``, in the order of ``table`` (which they must be cut from).

    Raises:
        DataError: a part is missing, was cut from other images, or the parts do not cover every image once.
    """
    n, fingerprint = len(table), input_digest(table.records)
    outputs: dict[str, np.ndarray] = {}
    errors: list[str | None] = [None] * n
    seen = np.zeros(n, dtype=np.int64)
    for index in range(count):
        path = Shard(index, count).part_path(Path(out) / PART_NAME, ".npz")
        if not path.is_file():
            raise DataError(f"{path}: part {index} of {count} is missing; run that shard first")
        with np.load(path, allow_pickle=False) as part:
            if int(part["inputs"]) != n or str(part["fingerprint"]) != fingerprint:
                raise DataError(
                    f"{path}: made from other images than these {n} (another dataset, split or "
                    "node's copy of it); run every shard on the same data"
                )
            rows = part["indices"]
            seen[rows] += 1
            for i, message in zip(rows, part["errors"], strict=True):
                errors[i] = str(message) or None
            for key in (name for name in part.files if name.startswith("output_")):
                value = part[key]
                name = key.removeprefix("output_")
                if name not in outputs:
                    outputs[name] = np.full((n, *value.shape[1:]), np.nan)
                outputs[name][rows] = value
    if (seen != 1).any():
        raise DataError(f"{out}: the {count} parts do not cover each image exactly once; rerun the shards")
    return BatchResult(outputs, errors)


def _predict_shard(
    predictor: Any, table: ImageTable, out: Path, shard: Shard, layout: str, progress: Reporter, **options: Any
) -> Path:
    indices = shard.indices(len(table), layout)
    records = [table.records[i] for i in indices]
    with progress(len(records), f"predicting ({shard.label})", "images") as step:
        result = predictor.predict_records(records, progress=step, **options)
    path = save_part(shard.part_path(out / PART_NAME, ".npz"), result, indices, table)
    log.info("%s: predicted %d of %d images -> %s", shard.label, int(result.readable.sum()), len(records), path)
    return path


def evaluate_sharded(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    shard: Shard,
    *,
    merge: bool = False,
    layout: str = "strided",
    split: str = "auto",
    tta: str | None = None,
    batch_size: int = 32,
    num_workers: int = 2,
    data_options: Sequence[str] = (),
    progress: Reporter = silent,
    **options: Any,
) -> EvaluationRun | None:
    """Evaluate ``model`` on ``data`` as shard ``shard`` of a sharded job (see the module docstring).

    Every process predicts its shard into a part file. Under a launcher the ranks then wait for each other and
    rank 0 merges the parts and evaluates; a shard given by hand stops after its part, and ``merge=True`` (all
    parts written) does the merge and the evaluation. The evaluation is
    :func:`~dermkit.evaluation.pipeline.evaluate_to_folder` on the merged predictions (``**options``: its
    ``bootstrap``, ``group_by``, ``class_map``, ``choose_threshold``, ``save``, ``report``, ``audit``, ``seed``).

    Returns:
        The evaluation on the process that made it; None on the others.
    """
    out = check_output(out, "folder")  # before the model is loaded and any shard predicted
    predictor = load_predictor(model, tta=tta)
    table, _ = select_split(read_model_data(predictor.spec, data, data_options), split)
    count = shard.count
    if merge:
        found = sorted(out.glob(f"{PART_NAME}.part-*-of-*.npz"))
        counts = {path.name.rsplit("-of-", 1)[1].removesuffix(".npz") for path in found}
        if len(counts) != 1:
            raise DataError(
                f"{out}: cannot merge: {'no parts' if not counts else 'parts of several shardings'} "
                f"({PART_NAME}.part-K-of-N.npz) there"
            )
        count = int(counts.pop())
    else:
        loading = {"batch_size": batch_size, "num_workers": num_workers}
        with joined(shard) as group:
            on_every_rank(group, lambda: _predict_shard(predictor, table, out, shard, layout, progress, **loading))
        if not (group.joined and shard.index == 0):
            return None
    result = merge_result_parts(out, table, count)
    shared = {"split": split, "tta": tta, "batch_size": batch_size, "num_workers": num_workers}
    run = evaluate_to_folder(
        model, data, out, data_options=data_options, progress=progress, result=result, **shared, **options
    )
    for index in range(count):
        Shard(index, count).part_path(out / PART_NAME, ".npz").unlink(missing_ok=True)
    return run
