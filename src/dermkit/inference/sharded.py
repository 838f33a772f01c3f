"""Sharded prediction: each process predicts its :class:`~dermkit.inference.shards.Shard` of the inputs into a part
file through :func:`~dermkit.inference.outputs.predict_to_csv`, and the parts are merged into one CSV in input
order, every input once, unreadable files included.

Each part ``preds.csv.part-K-of-N`` is followed by ``preds.csv.part-K-of-N.json`` once it is complete (its shard,
layout, input count and a fingerprint of the inputs): a part without it is unfinished. :func:`merge_parts` checks that
all N parts are complete and were cut from the same inputs, then streams their rows back into input order.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermkit.data.records import Record
from dermkit.errors import DataError
from dermkit.fileio import write_csv, write_json
from dermkit.inference.outputs import PredictSummary, predict_to_csv
from dermkit.inference.predictor import Predictor
from dermkit.inference.shards import Shard, input_digest, joined, on_every_rank, shard_indices
from dermkit.progress import Reporter, silent

log = logging.getLogger("dermkit")


@dataclass
class MergeSummary:
    """What :func:`merge_parts` wrote: ``rows`` rows of which ``errors`` are unreadable inputs, from ``parts``."""

    path: Path
    rows: int
    errors: int
    parts: int


@dataclass
class ShardedPredict:
    """One process's share of a sharded predict (``part``) and, on rank 0 under a launcher, the merged CSV."""

    shard: Shard
    part: PredictSummary
    merged: MergeSummary | None = None


def predict_part(
    predictor: Predictor,
    records: Sequence[Record],
    out: str | Path,
    shard: Shard,
    *,
    layout: str = "strided",
    batch_size: int = 32,
    num_workers: int = 0,
    progress: Reporter = silent,
    resume: bool = False,
) -> PredictSummary:
    """Predict the records of ``shard`` into ``<out>.part-K-of-N`` (then its ``.json``, marking it complete).

    Args:
        predictor: the model.
        records: all inputs of the job, in input order (every process passes the same list).
        out: the merged CSV's path; the part is written beside it.
        shard: which share this process predicts.
        layout: ``strided`` or ``contiguous`` (see :func:`~dermkit.inference.shards.shard_indices`).
        batch_size: images per forward pass.
        num_workers: decoding processes.
        progress: shows this shard's progress (described with its rank).
        resume: keep the rows an interrupted run of this shard wrote (see :func:`predict_to_csv`).
    """
    indices = shard.indices(len(records), layout)
    part = shard.part_path(out)
    mine = [records[i] for i in indices]
    with progress(len(mine), f"predicting ({shard.label})" if shard.label else "predicting", "images") as step:
        summary = predict_to_csv(predictor, mine, part, batch_size=batch_size, num_workers=num_workers,
                                 progress=step, resume=resume)  # fmt: skip
    done = len(mine) - len(summary.errors)
    log.info("%s: predicted %d of %d images -> %s", shard.label or "predict", done, len(mine), summary.path)
    finished = {"shard": shard.index, "shards": shard.count, "layout": layout, "inputs": len(records)}
    finished |= {"rows": len(mine), "errors": len(summary.errors), "fingerprint": input_digest(records)}
    write_json(shard.part_path(out, ".json"), finished)
    return summary


def predict_sharded(
    predictor: Predictor,
    records: Sequence[Record],
    out: str | Path,
    shard: Shard,
    *,
    layout: str = "strided",
    batch_size: int = 32,
    num_workers: int = 0,
    progress: Reporter = silent,
    resume: bool = False,
) -> ShardedPredict:
    """Predict this process's shard (:func:`predict_part`); under a launcher wait for every rank, and on rank 0 merge
    the parts into ``out`` (:func:`merge_parts`). A rank that fails makes every rank fail with its message, instead
    of leaving the others waiting.

    Shards given by hand only write their part: ``dermkit predict --merge OUT`` joins them once all have finished.
    """
    options = {"layout": layout, "batch_size": batch_size, "num_workers": num_workers, "progress": progress,
               "resume": resume}  # fmt: skip
    with joined(shard) as group:
        part = on_every_rank(group, lambda: predict_part(predictor, records, out, shard, **options))
        merged = merge_parts(out, shard.count) if group.joined and shard.index == 0 else None
    return ShardedPredict(shard, part, merged)


def _read_sidecars(out: Path, count: int | None) -> list[dict[str, Any]]:
    pattern = f"{out.name}.part-*-of-*.json"
    found = sorted(out.parent.glob(pattern))
    counts = sorted({json.loads(path.read_text(encoding="utf-8"))["shards"] for path in found})
    if count is None:
        if len(counts) != 1:
            what = "no finished part" if not counts else f"parts of {' and '.join(map(str, counts))}-way shardings"
            raise DataError(f"{out}: cannot merge: {what} beside it ({pattern})")
        count = counts[0]
    sidecars = []
    for index in range(count):
        path = Shard(index, count).part_path(out, ".json")
        if not path.is_file():
            raise DataError(f"{out}: part {index} of {count} is missing or unfinished ({path.name}); rerun that shard")
        sidecars.append(json.loads(path.read_text(encoding="utf-8")))
    first = sidecars[0]
    for sidecar in sidecars[1:]:
        if any(sidecar[key] != first[key] for key in ("inputs", "layout", "fingerprint")):
            raise DataError(
                f"{out}: part {sidecar['shard']} was cut from other inputs than part 0 (input count, "
                "layout or paths differ); run every shard on the same inputs"
            )
    return sidecars


def _rows(path: Path) -> Generator[list[str], None, None]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.reader(handle)


def _in_input_order(
    readers: list[Generator[list[str], None, None]], parts: list[Path], owner: list[int]
) -> Iterator[list[str]]:
    for part in owner:
        row = next(readers[part], None)
        if row is None:
            raise DataError(f"{parts[part]}: fewer rows than its shard's inputs; rerun that shard")
        yield row
    for path, reader in zip(parts, readers, strict=True):
        if next(reader, None) is not None:
            raise DataError(f"{path}: more rows than its shard's inputs; rerun that shard")


class _ErrorCount:
    """Rows passed through, counting those with an error (the last column)."""

    def __init__(self, rows: Iterator[list[str]]) -> None:
        self.rows, self.errors = rows, 0

    def __iter__(self) -> Iterator[list[str]]:
        for row in self.rows:
            self.errors += bool(row[-1])
            yield row


def merge_parts(out: str | Path, count: int | None = None, *, remove: bool = True) -> MergeSummary:
    """Join the parts ``<out>.part-K-of-N`` into ``out``: one row per input, in input order (row by row:
    the rows are never all in memory), written atomically.

    Args:
        out: the merged CSV to write.
        count: N, the number of parts (None: found from the finished parts beside ``out``).
        remove: delete the parts and their ``.json`` once ``out`` is written.

    Raises:
        DataError: a part is missing or unfinished, parts come from different inputs, or their columns differ.
    """
    out = Path(out)
    sidecars = _read_sidecars(out, count)
    count, n, layout = len(sidecars), sidecars[0]["inputs"], sidecars[0]["layout"]
    parts = [Shard(index, count).part_path(out) for index in range(count)]
    owner = [0] * n  # which part holds input i's row
    for index in range(count):
        for i in shard_indices(n, index, count, layout):
            owner[i] = index
    readers = [_rows(path) for path in parts]
    try:
        headers = [next(reader, None) for reader in readers]
        if any(header != headers[0] for header in headers):
            raise DataError(f"{out}: the parts have different columns (made by different models?); rerun the shards")
        counted = _ErrorCount(_in_input_order(readers, parts, owner))
        write_csv(out, headers[0], counted)
    finally:
        for reader in readers:
            reader.close()
    if remove:
        for path in parts:
            path.unlink(missing_ok=True)
            Path(f"{path}.json").unlink(missing_ok=True)
    return MergeSummary(out, n, counted.errors, count)
