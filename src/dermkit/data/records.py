"""What every dataset reader produces: a list of :class:`Record` s plus the class names.

Readers for folders, CSV manifests, list files and the public datasets all return an :class:`ImageTable`; everything
downstream (splits, training, evaluation, audit) works on that one shape.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dermkit.errors import DataError

SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "tst": "test",
}  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One image.

    Attributes:
        path: the image file.
        label: index into the table's ``class_names``, or None when unlabelled.
        split: ``train``, ``val``, ``test`` or None when the dataset does not say.
        group: patient or lesion id; images of one group never straddle splits.
        meta: any other manifest columns (skin type, sex, site...) as text, for subgroup reports.
        count: the number of lesions on the image (acne counting), or None when not annotated.
        origin: where the record was read (``file line N``), for messages about its row; not compared.
        pixels: ``(array file, row)`` of the image already decoded into a uint8 array store (a decoded-image cache,
            MedMNIST's arrays; :mod:`dermkit.data.arrays`), read instead of decoding ``path``; not compared.
    """

    path: Path
    label: int | None = None
    split: str | None = None
    group: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    count: int | None = None
    origin: str | None = field(default=None, compare=False)
    pixels: tuple[str, int] | None = field(default=None, compare=False)


@dataclass
class ImageTable:
    """Records of one dataset and its sorted class names.

    Attributes:
        records: the images, in a stable order.
        class_names: names of the classes; ``Record.label`` indexes this list.
        source: where the table came from (for messages).
        format: the name of the reader that made it.
    """

    records: list[Record]
    class_names: list[str]
    source: str = ""
    format: str = ""

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def splits(self) -> list[str]:
        """Split names present, in train/val/test order."""
        present = {record.split for record in self.records if record.split}
        return [name for name in ("train", "val", "test") if name in present]

    def class_counts(self) -> list[int]:
        """Images per class, in ``class_names`` order (0 for an empty class)."""
        counts = Counter(record.label for record in self.records if record.label is not None)
        return [counts.get(index, 0) for index in range(self.num_classes)]

    def subset(self, split: str | Iterable[str]) -> ImageTable:
        """A table with the records of the given split(s); class names stay the same."""
        wanted = {split} if isinstance(split, str) else set(split)
        return replace(self, records=[record for record in self.records if record.split in wanted])

    def with_records(self, records: Sequence[Record]) -> ImageTable:
        """The same table with other records."""
        return replace(self, records=list(records))

    def columns(self) -> list[str]:
        """Names of the extra manifest columns the records carry (patient id, skin type, site...), sorted."""
        return sorted({key for record in self.records for key in record.meta})

    def column_values(self, column: str) -> list[str | None]:
        """Each record's value in ``column`` (None where empty); an unknown column raises, listing the known ones."""
        columns = self.columns()
        if column not in columns:
            known = ", ".join(columns) or "none (class folders carry no columns; use a CSV manifest)"
            raise DataError(f"{self.source}: no column '{column}'; columns: {known}")
        return [record.meta.get(column) or None for record in self.records]

    def labels(self) -> list[int]:
        """Every record's label; raises when one is unlabelled."""
        missing = [record.path for record in self.records if record.label is None]
        if missing:
            raise DataError(f"{self.source}: {len(missing)} images have no label, e.g. {missing[0]}")
        return [record.label for record in self.records]  # type: ignore[misc]


def normalise_split(value: str, where: str) -> str | None:
    """Map ``Train``, ``validation``, ``dev``... to ``train``/``val``/``test``; empty means no split."""
    text = value.strip().lower()
    if not text:
        return None
    try:
        return SPLIT_ALIASES[text]
    except KeyError:
        raise DataError(f"{where}: unknown split '{value}'; use train, val or test") from None


class LabelMap:
    """Turns label text (a class name or a class index) into an index into sorted class names.

    When ``class_names`` is given, labels may be those names or integer indices into them; otherwise the names are
    the distinct labels, sorted (numerically when every label is an integer, so ``10`` follows ``9``).

    Args:
        labels: every label text in the dataset.
        class_names: the classes, in index order, when the user fixes them.
        where: the source, for error messages.
    """

    def __init__(self, labels: Iterable[str], class_names: Sequence[str] | None, where: str) -> None:
        distinct = sorted({label.strip() for label in labels if label.strip()})
        self.where = where
        if class_names:
            self.class_names = list(class_names)
        elif distinct and all(_is_int(label) for label in distinct):
            self.class_names = [str(value) for value in sorted({int(label) for label in distinct})]
        else:
            self.class_names = distinct
        self._index = {name: index for index, name in enumerate(self.class_names)}

    def __call__(self, label: str, line: str | int = "") -> int | None:
        """The class index of ``label``; None for an empty label; unknown labels raise naming the line."""
        text = label.strip()
        if not text:
            return None
        if text in self._index:
            return self._index[text]
        if _is_int(text) and 0 <= int(text) < len(self.class_names) and str(int(text)) not in self._index:
            return int(text)
        if _is_int(text) and str(int(text)) in self._index:
            return self._index[str(int(text))]
        at = f" line {line}" if line != "" else ""
        raise DataError(f"{self.where}{at}: unknown label '{text}'; known classes: {', '.join(self.class_names)}")


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def sorted_class_names(names: Iterable[str]) -> list[str]:
    """Distinct names, sorted; numerically when every name is an integer (so ``10`` follows ``9``), spelling kept."""
    distinct = set(names)
    if distinct and all(_is_int(name) for name in distinct):
        return sorted(distinct, key=lambda name: (int(name), name))
    return sorted(distinct)


def is_existing_file(path: Path) -> bool:
    """``path.is_file()``, but False instead of an ``OSError`` for names the OS rejects (too long, ...)."""
    try:
        return path.is_file()
    except OSError:
        return False


def resolve_image_path(name: str, base: Path) -> Path:
    """Resolve ``name`` (absolute, ``~``, or relative to ``base``); add a .jpg/.png extension when one is missing."""
    path = Path(name.strip())
    with contextlib.suppress(RuntimeError):  # ``~user`` naming no user: keep the name; the missing file is reported
        path = path.expanduser()
    if not path.is_absolute():
        path = base / path
    if path.name and not path.suffix and not is_existing_file(path):
        for extension in (".jpg", ".jpeg", ".png"):
            candidate = path.with_name(path.name + extension)
            if is_existing_file(candidate):
                return candidate
    return path


def check_files_exist(records: Sequence[Record], where: str, lines: Sequence[int | str] | None = None) -> None:
    """Raise one line naming the first missing file (and its line) and how many are missing."""
    missing = [index for index, record in enumerate(records) if not is_existing_file(record.path)]
    if not missing:
        return
    first = missing[0]
    at = f" line {lines[first]}" if lines is not None else ""
    raise DataError(
        f"{where}{at}: file not found: {records[first].path} ({len(missing)} of {len(records)} files named are missing)"
    )
