"""Acne severity grades and lesion counts: the Hayashi count-to-grade criterion and the checks run on a read table.

Hayashi et al. grade facial acne by the number of inflammatory lesions on one side of the face: mild (0-5),
moderate (6-20), severe (21-50) and very severe (more than 50) (N. Hayashi, H. Akamatsu, M. Kawashima, "Establishment
of grading criteria for acne severity", Journal of Dermatology 35(5), 2008). ACNE04 (X. Wu, N. Wen, J. Liang, Y.-K. Lai,
D. She, M.-M. Cheng, J. Yang, "Joint Acne Image Grading and Counting via Label Distribution Learning", ICCV 2019)
labels each image with such a grade and its lesion count, and its counting head has 65 bins.

Readers (ACNE04 lists, CSV manifests with a count column) fill :attr:`dermkit.data.records.Record.count` and fail on
rows that cannot be read; :func:`check_acne_counts` then reports what is readable but doubtful (rows without a count,
grades that disagree with their count, counts beyond the last bin) as warning lines, and raises only when asked to
be strict.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

from dermkit.data.records import ImageTable, Record
from dermkit.errors import DataError

GRADE_NAMES = ("mild", "moderate", "severe", "very_severe")
"""Default acne grade names, in severity order (their alphabetical order too)."""
HAYASHI_BOUNDARIES = (5, 20, 50)
"""The largest lesion count of each grade but the last: ``count <= 5`` is mild, ``6..20`` moderate, ..."""
NUM_COUNT_BINS = 65
"""Count bins of the ACNE04 counting head (LDL/LDS); larger counts are clipped into the last bin."""
COUNT_COLUMNS = ("count", "lesion_count", "lesions")
"""CSV column names read as the lesion count when ``data.count_column`` is not set."""


def parse_count(text: str, where: str) -> int | None:
    """Read a lesion count: a non-negative integer (``12`` or ``12.0``); empty text means not annotated.

    Args:
        text: the cell or token.
        where: the file and line, for the error message.

    Returns:
        The count, or None for an empty cell.

    Raises:
        DataError: for a negative, fractional or non-numeric count, naming ``where``.
    """
    value = text.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise DataError(f"{where}: lesion count '{value}' is not a non-negative integer")
    return int(number)


def _check_boundaries(boundaries: Sequence[int]) -> tuple[int, ...]:
    values = tuple(boundaries)
    if not values or any(isinstance(b, bool) or int(b) != b or b < 0 for b in values):
        raise DataError(f"grade boundaries must be non-negative integers, got {list(values)}")
    if any(b >= c for b, c in itertools.pairwise(values)):
        raise DataError(f"grade boundaries must increase strictly, got {list(values)}")
    return tuple(int(b) for b in values)


def grade_from_count(count: int, boundaries: Sequence[int] = HAYASHI_BOUNDARIES) -> int:
    """The grade of a lesion count: how many boundaries the count exceeds (Hayashi et al., J. Dermatol. 2008).

    Args:
        count: the number of lesions (>= 0).
        boundaries: the largest count of each grade but the last, increasing (default 5, 20, 50).

    Returns:
        The grade index in ``0..len(boundaries)``: with the defaults 0 for 0-5, 1 for 6-20, 2 for 21-50, 3 above.

    Raises:
        DataError: for a negative count or boundaries that are not increasing non-negative integers.
    """
    if count < 0:
        raise DataError(f"lesion count must be >= 0, got {count}")
    return bisect.bisect_left(_check_boundaries(boundaries), count)


def _where(record: Record) -> str:
    return record.origin or str(record.path)


def check_acne_counts(
    table: ImageTable,
    boundaries: Sequence[int] = HAYASHI_BOUNDARIES,
    num_bins: int = NUM_COUNT_BINS,
    strict: bool = False,
) -> list[str]:
    """Warnings about a graded, counted table: missing counts, grades disagreeing with counts, clipped counts.

    Every row is kept as given; each kind of problem gives at most one line saying how many rows it concerns.
    Grades are ``Record.label`` (indices into ``table.class_names``), counts ``Record.count``.

    Args:
        table: the records, e.g. from the ``acne04`` reader or a CSV manifest with a count column.
        boundaries: the count-to-grade criterion (see :func:`grade_from_count`); it must give as many grades as
            the table has class names.
        num_bins: count bins of the counting head; a count above ``num_bins`` is clipped into the last bin.
        strict: raise on the first grade that disagrees with its count instead of warning.

    Returns:
        The warning lines (empty when all is well).

    Raises:
        DataError: bad boundaries or ``num_bins``, or (``strict``) a grade disagreeing with its count, naming the file
            and line of the first such row.
    """
    limits = _check_boundaries(boundaries)
    if len(limits) + 1 != table.num_classes:
        raise DataError(
            f"{table.source}: {len(limits)} grade boundaries give {len(limits) + 1} grades, but the dataset has "
            f"{table.num_classes} grade names ({', '.join(table.class_names)})"
        )
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise DataError(f"num_bins must be an integer >= 1, got {num_bins!r}")
    source, names, total = table.source or "dataset", table.class_names, len(table.records)
    lines: list[str] = []
    missing = sum(record.count is None for record in table.records)
    if missing:
        lines.append(f"{source}: {missing} of {total} images have no lesion count; only their grade is learned")
    graded = [(r, r.label, r.count) for r in table.records if r.count is not None and r.label is not None]
    disagree = [(r, given, count) for r, given, count in graded if grade_from_count(count, limits) != given]
    if disagree:
        first, given, count = disagree[0]
        detail = (
            f"grade '{names[given]}' given, but lesion count {count} means '{names[grade_from_count(count, limits)]}'"
        )
        criterion = f"count boundaries {', '.join(map(str, limits))}"
        if strict:
            raise DataError(f"{_where(first)}: {detail} ({criterion}); {len(disagree)} such rows")
        lines.append(
            f"{source}: {len(disagree)} of {total} images have a grade that disagrees with their lesion count "
            f"({criterion}), kept as given; first: {_where(first)}: {detail}"
        )
    clipped = [r.count for r in table.records if r.count is not None and r.count > num_bins]
    if clipped:
        lines.append(
            f"{source}: {len(clipped)} images have more than {num_bins} lesions (up to {max(clipped)}), "
            "clipped into the last count bin"
        )
    return lines
