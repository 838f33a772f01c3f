"""``dermkit split``: write stratified (optionally patient-grouped) train/val/test CSV manifests for any dataset.

Generalises the skin_classifier project's ``prepare_split_data.py`` (a random, unstratified split): classes keep their
proportions in every split, patients never straddle two splits, and byte-identical files always land together, so
copies of one image cannot leak from training into test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dermkit.data.duplicates import leak_free_groups
from dermkit.data.records import ImageTable
from dermkit.data.splits import stratified_group_split
from dermkit.errors import DataError
from dermkit.fileio import check_output, write_csv


@dataclass
class SplitReport:
    """What :func:`split_dataset` wrote and found.

    Attributes:
        files: split name -> the CSV written.
        counts: split name -> images per class (``class_names`` order).
        class_names: the classes.
        duplicates: groups of byte-identical files (each kept within one split).
        groups: number of distinct patients/groups when grouping, else None.
    """

    files: dict[str, Path]
    counts: dict[str, list[int]]
    class_names: list[str]
    duplicates: list[list[Path]]
    groups: int | None


def _group_ids(table: ImageTable, group_by: str | None) -> list[str | None] | None:
    """The column's values; without ``group_by``, the patient/lesion ids the dataset reader found, if any."""
    if group_by is not None:
        return table.column_values(group_by)
    known = [record.group for record in table.records]
    return known if any(known) else None


def split_dataset(
    table: ImageTable,
    out: str | Path,
    *,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    group_by: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SplitReport:
    """Split ``table`` and write ``out/train.csv``, ``out/val.csv``, ``out/test.csv`` (each atomically).

    Args:
        table: a labelled dataset (any format; existing splits are ignored and redone).
        out: the folder for the manifests; image paths in them are relative to it.
        val: fraction of images for validation.
        test: fraction of images for testing.
        seed: makes the split reproducible.
        group_by: a manifest column (e.g. ``patient_id``, ``lesion_id``) whose groups must stay in one split;
            None keeps together the patient (or lesion) ids the dataset's reader knows (``Record.group``).
        progress: ``progress(done, total)`` of the duplicate search (files hashed).

    Returns:
        The written files, per-split class counts and the duplicate groups found.
    """
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise DataError(f"--val ({val}) and --test ({test}) must be in [0, 1) and leave images for training")
    out = check_output(out, "folder")  # before the files are hashed
    labels = table.labels()
    groups = _group_ids(table, group_by)
    merged, duplicates = leak_free_groups([record.path for record in table.records], groups, progress=progress)
    fractions = {"train": 1.0 - val - test, "val": val, "test": test}
    assigned = stratified_group_split(labels, fractions, groups=merged, seed=seed)

    extra_columns = table.columns()
    header = ["path", "label", "split", *extra_columns]
    files: dict[str, Path] = {}
    counts: dict[str, list[int]] = {}
    for split in ("train", "val", "test"):
        chosen = [i for i, name in enumerate(assigned) if name == split]
        counts[split] = [sum(1 for i in chosen if labels[i] == c) for c in range(table.num_classes)]
        if not chosen and fractions[split] == 0:
            (out / f"{split}.csv").unlink(missing_ok=True)  # a stale file would be read back as a split
            continue
        rows = []
        for i in chosen:
            record = table.records[i]
            rows.append(
                [
                    Path(os.path.relpath(record.path.resolve(), out.resolve())).as_posix(),
                    table.class_names[labels[i]],
                    split,
                    *(record.meta.get(column, "") for column in extra_columns),
                ]
            )
        files[split] = write_csv(out / f"{split}.csv", header, rows)
    return SplitReport(
        files, counts, list(table.class_names), duplicates, len(set(merged)) if groups is not None else None
    )
