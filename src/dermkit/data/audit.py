"""Dataset audit: class balance, image sizes and modes, unreadable files, and duplicates leaking across splits.

One pass reads each distinct file: its header (:func:`~dermkit.data.decode.probe_image`: stored size, mode, format) and,
with ``decode=True``, a reduced-scale full decode (:func:`~dermkit.data.decode.load_image`, ``min_size=64``) that finds
truncated pixel data and feeds the DCT perceptual hash. Byte-identical files are grouped by SHA-256
(:func:`~dermkit.data.duplicates.exact_duplicate_groups`); near copies (resized, re-compressed) are pairs of perceptual
hashes within ``max_distance`` bits. A copy in two splits is leakage: it inflates the test score.

The pool uses threads: Pillow's decoder and OpenCV release the GIL, and on 1,000 448-px JPEGs two threads matched two
processes, which also pay start-up and pickling and are unsafe to fork from a program running threads (a server).
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dermkit.data.audit_findings import (
    ExactDuplicate,
    NearDuplicate,
    UnreadableImage,
    balance_table,
    format_counts,
    format_splits,
)
from dermkit.data.decode import ImageInfo, load_image, probe_image
from dermkit.data.duplicates import exact_duplicate_groups, near_duplicate_pairs, perceptual_hash
from dermkit.data.records import ImageTable, Record
from dermkit.errors import DataError, ImageLoadError
from dermkit.metrics.longtail import SHOT_FEW, SHOT_MANY, imbalance_ratio, shot_groups

__all__ = ["AuditReport", "ExactDuplicate", "NearDuplicate", "UnreadableImage", "audit_dataset"]

DECODE_MIN_SIZE = 64  # JPEGs decode at 1/2..1/8 scale while both sides stay >= this; pHash only needs 32 x 32
_SPLIT_ORDER = ("train", "val", "test")
_SHOWN = 3  # examples of each problem in summary_lines
_ByPath = dict[Path, list[Record]]  # the records of each distinct file


@dataclass
class AuditReport:
    """What :func:`audit_dataset` found; :meth:`to_dict` is the JSON contract of the CLI and the HTML report.

    Attributes:
        splits: images per class (``class_names`` order) per split: ``{"all": ...}`` for a table without splits, plus
            ``"unassigned"`` for records without a split in a table that has splits.
        imbalance_ratio: largest over smallest class count (all images); None when a class is empty.
        sizes: ``{"width"|"height"|"megapixels": {"min", "median", "max"}}`` of readable images (None if none).
        modes, formats: readable images per Pillow mode and per file format, most common first.
        unreadable: files failing the header probe or (with ``decode``) the decode; counted in n_images and splits.
        exact_duplicates: byte-identical groups, cross-split first, then those with conflicting labels.
        near_duplicates: near record pairs (identical files left out), cross-split first, then by distance.
        shots: classes by training images (the train split's, else all): ``{"many", "medium", "few"}`` counts of
            classes with more than ``many_above``, ``few_below``..``many_above`` and fewer than ``few_below`` images
            (the long-tail convention, 100 and 20 by default), plus the two thresholds and ``counted`` (which images).
        decoded, near_checked, max_distance: how the audit ran (not part of :meth:`to_dict`).
    """

    source: str
    n_images: int
    class_names: list[str]
    splits: dict[str, list[int]]
    imbalance_ratio: float | None
    sizes: dict[str, dict[str, float | int | None]]
    modes: dict[str, int]
    formats: dict[str, int]
    unreadable: list[UnreadableImage]
    exact_duplicates: list[ExactDuplicate]
    near_duplicates: list[NearDuplicate]
    decoded: bool = True
    near_checked: bool = True
    max_distance: int = 6
    patients_across_splits: list[str] = field(default_factory=list)
    shots: dict[str, Any] = field(default_factory=dict)

    @property
    def leakage(self) -> dict[str, int]:
        """Exact-duplicate groups, near-duplicate pairs and patient (lesion) ids that span more than one split."""
        return {"exact": sum(g.cross_split for g in self.exact_duplicates),
                "near": sum(p.cross_split for p in self.near_duplicates),
                "patients": len(self.patients_across_splits)}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types (no numpy scalars, no NaN), every entry kept."""
        return {
            "source": self.source, "n_images": self.n_images, "class_names": list(self.class_names),
            "splits": {name: list(counts) for name, counts in self.splits.items()},
            "imbalance_ratio": self.imbalance_ratio, "sizes": {key: dict(v) for key, v in self.sizes.items()},
            "modes": dict(self.modes), "formats": dict(self.formats),
            "unreadable": [asdict(item) for item in self.unreadable],
            "exact_duplicates": [group.to_dict() for group in self.exact_duplicates],
            "near_duplicates": [pair.to_dict() for pair in self.near_duplicates],
            "patients_across_splits": list(self.patients_across_splits), "leakage": self.leakage,
            "shots": dict(self.shots),
        }  # fmt: skip

    def summary_lines(self) -> list[str]:
        """A short plain-text summary for the terminal; lists show their first few entries only."""
        leak, exact, near = self.leakage, self.exact_duplicates, self.near_duplicates
        lines = [f"{self.source or 'dataset'}: {self.n_images} images, {len(self.class_names)} classes"]
        lines += balance_table(self.class_names, self.splits)
        if self.class_names:
            ratio = "n/a (a class is empty)" if self.imbalance_ratio is None else f"{self.imbalance_ratio:.2f}"
            lines.append(f"imbalance ratio (largest / smallest class): {ratio}")
        if self.shots:
            lines.append(_shot_line(self.shots))
        if self.sizes["width"]["min"] is not None:
            lines.append("sizes: " + ", ".join(f"{k} {v['min']:g}..{v['max']:g} (median {v['median']:g})"
                                               for k, v in self.sizes.items()))  # fmt: skip
        lines.append(f"modes: {format_counts(self.modes)}; formats: {format_counts(self.formats)}")
        check = "header + full decode" if self.decoded else "header only: truncated pixel data is not detected"
        lines.append(f"unreadable: {len(self.unreadable)} ({check})")
        lines += [f"  {item.path}: {item.error}" for item in self.unreadable[:_SHOWN]]
        conflicts = sum(group.conflicting_labels for group in exact)
        lines.append(f"exact duplicates: {len(exact)} groups, {leak['exact']} cross-split, {conflicts} label conflicts")
        lines += [f"  {format_splits(g.splits)} {' == '.join(g.paths)}" for g in exact[:_SHOWN]]
        if self.near_checked:
            lines.append(f"near duplicates (d <= {self.max_distance}): {len(near)} pairs, {leak['near']} cross-split")
            lines += [f"  {format_splits(p.splits)} d={p.distance} {p.a} ~ {p.b}" for p in near[:_SHOWN]]
        else:
            lines.append("near duplicates: not checked" + ("" if self.decoded else " (needs decoding)"))
        if leak["patients"]:
            shown = ", ".join(self.patients_across_splits[:_SHOWN])
            lines.append(f"patients (lesions) in several splits: {leak['patients']}, e.g. {shown}")
        if not any(leak.values()):
            return [*lines, "leakage: none found"]
        return [*lines, f"LEAKAGE: {leak['exact']} exact groups, {leak['near']} near pairs and {leak['patients']} "
                        "patients span splits"]  # fmt: skip


def audit_dataset(
    table: ImageTable,
    *,
    near_duplicates: bool = True,
    max_distance: int = 6,
    decode: bool = True,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    many: int = SHOT_MANY,
    few: int = SHOT_FEW,
) -> AuditReport:
    """Audit a dataset: class balance, sizes, modes, formats, unreadable files, exact and near duplicates.

    Args:
        table: the dataset, e.g. from :func:`dermkit.data.formats.read_dataset`.
        near_duplicates: search for near duplicates by perceptual hash (needs ``decode``).
        max_distance: the largest pHash Hamming distance (of 64 bits) counted as a near duplicate.
        decode: fully decode every image. False reads headers only: several times faster, but truncated pixel data
            goes unnoticed and near duplicates are not searched.
        workers: threads reading images (>= 1).
        progress: called as ``progress(done, total)`` after each distinct file.
        many, few: shot-group thresholds: more than ``many`` training images is many-shot, fewer than ``few``
            few-shot.

    Returns:
        The :class:`AuditReport`.

    Raises:
        DataError: ``workers`` < 1, ``max_distance`` < 0, or a file vanishes between decoding and hashing.
    """
    if workers < 1 or max_distance < 0:
        raise DataError(f"workers must be >= 1 and max_distance >= 0, got {workers} and {max_distance}")
    if not 0 <= few <= many:
        raise DataError(f"shot thresholds need 0 <= few <= many, got few={few} and many={many}")
    by_path: _ByPath = {}  # a manifest may list one file twice (even in two splits)
    for record in table.records:
        by_path.setdefault(Path(record.path), []).append(record)
    check_near = decode and near_duplicates
    task = functools.partial(_inspect, decode=decode, want_hash=check_near)
    results: dict[Path, tuple[ImageInfo | None, int | None, str | None]] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, result in zip(by_path, pool.map(task, map(str, by_path)), strict=True):
            results[path] = result
            if progress is not None:
                progress(len(results), len(by_path))
    infos = {path: info for path, (info, _, _) in results.items() if info is not None}
    groups = exact_duplicate_groups(list(infos), workers=workers) if len(infos) > 1 else []
    grouped = {path for group in groups for path in group}
    groups += [[path] for path in infos if len(by_path[path]) > 1 and path not in grouped]
    hashes = {path: phash for path, (_, phash, _) in results.items() if phash is not None}
    counts = table.class_counts()
    return AuditReport(
        source=table.source, n_images=len(table.records), class_names=list(table.class_names),
        splits=_split_counts(table), imbalance_ratio=imbalance_ratio(counts) if counts and min(counts) else None,
        sizes=_size_stats(list(infos.values())), modes=_tally(info.mode for info in infos.values()),
        formats=_tally(info.format or "unknown" for info in infos.values()),
        unreadable=[UnreadableImage(str(path), error) for path, (_, _, error) in results.items() if error],
        exact_duplicates=_exact_entries(groups, by_path, table.class_names),
        near_duplicates=_near_pairs(hashes, groups, by_path, max_distance) if check_near else [],
        decoded=decode, near_checked=check_near, max_distance=max_distance,
        patients_across_splits=_patients_across_splits(table.records), shots=_shots(table, many, few),
    )  # fmt: skip


def _shots(table: ImageTable, many: int, few: int) -> dict[str, Any]:
    """Classes per shot group by training images (the train split when the table has one, else every image)."""
    counted = "train split" if "train" in table.splits else "all images"
    counts = table.subset("train").class_counts() if "train" in table.splits else table.class_counts()
    groups = shot_groups(counts, many=many, few=few) if counts else {"many": [], "medium": [], "few": []}
    return {
        **{name: len(members) for name, members in groups.items()},
        "many_above": many,
        "few_below": few,
        "counted": counted,
    }


def _shot_line(shots: dict[str, Any]) -> str:
    many, few = shots["many_above"], shots["few_below"]
    return (
        f"classes by training images ({shots['counted']}): many-shot (> {many}) {shots['many']}, medium "
        f"({few}-{many}) {shots['medium']}, few-shot (< {few}) {shots['few']}"
    )


def _patients_across_splits(records: Sequence[Record]) -> list[str]:
    """Patient (lesion) ids whose images sit in more than one split: the same person seen in training and test."""
    splits_of: dict[str, set[str]] = {}
    for record in records:
        if record.group and record.split:
            splits_of.setdefault(str(record.group), set()).add(record.split)
    return sorted(group for group, splits in splits_of.items() if len(splits) > 1)


def _inspect(path: str, *, decode: bool, want_hash: bool) -> tuple[ImageInfo | None, int | None, str | None]:
    """Header facts, perceptual hash and error reason of one file; never raises for a bad image."""
    try:
        info = probe_image(path)
        pixels = load_image(path, min_size=DECODE_MIN_SIZE) if decode else None
        return info, perceptual_hash(pixels) if pixels is not None and want_hash else None, None
    except ImageLoadError as exc:
        return None, None, exc.reason


def _exact_entries(groups: list[list[Path]], by_path: _ByPath, names: list[str]) -> list[ExactDuplicate]:
    """One entry per group of identical files, its records sorted by path; cross-split, then conflicting, first."""
    entries = []
    for group in groups:
        records = sorted((r for path in group for r in by_path[path]), key=lambda r: (str(r.path), r.split or ""))
        labels = tuple(None if r.label is None else names[r.label] for r in records)
        entries.append(ExactDuplicate(tuple(str(r.path) for r in records), tuple(r.split for r in records), labels))
    return sorted(entries, key=lambda g: (not g.cross_split, not g.conflicting_labels, g.paths))


def _near_pairs(hashes: dict[Path, int], groups: list[list[Path]], by_path: _ByPath, limit: int) -> list[NearDuplicate]:
    """Record pairs of near but not byte-identical files; cross-split first, then by distance."""
    group_of = {path: index for index, group in enumerate(groups) for path in group}
    paths, entries = list(hashes), []
    for i, j, distance in near_duplicate_pairs(list(hashes.values()), limit):
        a, b = paths[i], paths[j]
        if a in group_of and group_of[a] == group_of.get(b):
            continue  # identical bytes: already an exact duplicate
        entries += [NearDuplicate(str(a), str(b), distance, (r.split, s.split)) for r in by_path[a] for s in by_path[b]]
    return sorted(entries, key=lambda p: (not p.cross_split, p.distance, p.a, p.b))


def _split_counts(table: ImageTable) -> dict[str, list[int]]:
    """Images per class per split (records without a split: ``"unassigned"``); ``"all"`` when no record has one."""
    present = {record.split for record in table.records}
    if not present - {None}:
        return {"all": table.class_counts()}
    names = [s for s in _SPLIT_ORDER if s in present] + sorted(s for s in present - {None} if s not in _SPLIT_ORDER)
    counts = {name: [0] * len(table.class_names) for name in names + (["unassigned"] if None in present else [])}
    for record in table.records:
        if record.label is not None:
            counts[record.split or "unassigned"][record.label] += 1
    return counts


def _size_stats(infos: Sequence[ImageInfo]) -> dict[str, dict[str, float | int | None]]:
    """Min, median and max (4 decimals) of width, height and megapixels; None when there are no images."""
    columns = {"width": [i.width for i in infos], "height": [i.height for i in infos]}
    columns["megapixels"] = [i.width * i.height / 1e6 for i in infos]
    return {
        key: {"min": round(min(v), 4), "median": round(statistics.median(v), 4), "max": round(max(v), 4)}
        if v else dict.fromkeys(("min", "median", "max"))
        for key, v in columns.items()
    }  # fmt: skip


def _tally(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())
