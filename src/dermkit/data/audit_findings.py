"""What a dataset audit finds, one record each (unreadable files, exact and near duplicates), and the text helpers
of its terminal summary. :mod:`dermkit.data.audit` finds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ExactDuplicate", "NearDuplicate", "UnreadableImage", "balance_table", "format_counts", "format_splits"]


@dataclass(frozen=True)
class UnreadableImage:
    """A file that could not be read; ``error`` is the reason alone (the path is its own field)."""

    path: str
    error: str


@dataclass(frozen=True)
class ExactDuplicate:
    """Records of byte-identical files (or of one file listed twice); ``splits`` and ``labels`` follow ``paths``."""

    paths: tuple[str, ...]
    splits: tuple[str | None, ...]
    labels: tuple[str | None, ...]

    @property
    def cross_split(self) -> bool:
        return len({split for split in self.splits if split is not None}) > 1

    @property
    def conflicting_labels(self) -> bool:
        return len({label for label in self.labels if label is not None}) > 1

    def to_dict(self) -> dict[str, Any]:
        return {"paths": list(self.paths), "splits": list(self.splits), "labels": list(self.labels),
                "cross_split": self.cross_split, "conflicting_labels": self.conflicting_labels}  # fmt: skip


@dataclass(frozen=True)
class NearDuplicate:
    """Two records whose perceptual hashes differ in ``distance`` bits (their files are not identical)."""

    a: str
    b: str
    distance: int
    splits: tuple[str | None, str | None]

    @property
    def cross_split(self) -> bool:
        return None not in self.splits and self.splits[0] != self.splits[1]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "distance": self.distance, "splits": list(self.splits),
                "cross_split": self.cross_split}  # fmt: skip


def balance_table(class_names: Sequence[str], splits: dict[str, list[int]]) -> list[str]:
    """Rows of images per class, one column per split (and a total when there are several)."""
    total = len(splits) > 1
    columns = [*splits, "total"] if total else list(splits)
    rows = [[counts[k] for counts in splits.values()] for k in range(len(class_names))]
    rows = [[*row, sum(row)] if total else row for row in rows]
    width = max([5, *(len(name) for name in class_names)])
    cells = [max(len(column), 6) for column in columns]
    lines = ["class".ljust(width) + "".join(f"  {c:>{w}}" for c, w in zip(columns, cells, strict=True))]
    for name, row in zip(class_names, rows, strict=True):
        lines.append(name.ljust(width) + "".join(f"  {v:>{w}}" for v, w in zip(row, cells, strict=True)))
    return lines


def format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "none"


def format_splits(splits: Sequence[str | None]) -> str:
    return "[" + ", ".join(split or "-" for split in splits) + "]"
