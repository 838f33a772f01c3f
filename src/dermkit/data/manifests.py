"""Text-file datasets: CSV manifests and list files.

* ``csv_manifest``: a CSV with a path column and a label column (optional patient/group and split columns; any other
  columns are kept as metadata for subgroup reports). Paths are relative to the CSV. Column names are detected from
  common spellings (``path``/``filename``/``image``..., ``label``/``class``/``dx``...) or set with ``path_column=``,
  ``label_column=``, ``split_column=``, ``group_column=``. A folder holding ``train.csv``/``val.csv``/``test.csv``
  (what ``dermkit split`` writes) reads as one manifest with the split taken from each file name. An acne manifest
  ``path,grade,count[,patient_id,split]`` also has a lesion count column (``count``/``lesion_count``/``lesions`` or
  ``count_column=``): it fills ``Record.count`` (an empty cell: no count) and stays in the metadata, so ``dermkit
  split`` writes it back; when every label is a grade name or index (0-3), the class names default to the acne
  grade names (:data:`dermkit.data.acne.GRADE_NAMES`).
* ``list_files``: ``name,label`` or ``name label`` lines without a header (``train.txt``/``val.txt``/``test.txt``, as
  the two-class project, ACNE04 and SD-198 ship them). Every line counts, the last one included, with or without a
  trailing newline.
"""

from __future__ import annotations

import csv
from pathlib import Path

from dermkit.data.acne import COUNT_COLUMNS, GRADE_NAMES, parse_count
from dermkit.data.formats import DatasetFormat, ReadOptions, register_format
from dermkit.data.records import (
    SPLIT_ALIASES,
    ImageTable,
    LabelMap,
    Record,
    check_files_exist,
    is_existing_file,
    normalise_split,
    resolve_image_path,
)
from dermkit.errors import DataError

PATH_COLUMNS = ("path", "filename", "file", "filepath", "image_path", "image", "img", "image_id", "name")
LABEL_COLUMNS = ("label", "class", "class_name", "target", "diagnosis", "dx", "category", "y", "grade")
SPLIT_COLUMNS = ("split", "subset", "set", "partition")
GROUP_COLUMNS = ("patient_id", "patient", "subject_id", "subject", "lesion_id", "group")
IMAGE_DIR_CANDIDATES = (".", "images", "JPEGImages", "imgs", "img", "../images", "../JPEGImages", "../data", "..")


def _split_files(root: Path, suffix: str) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    files = {}
    for path in sorted(root.glob(f"*{suffix}")):
        split = SPLIT_ALIASES.get(path.stem.lower())
        if split and split not in files:
            files[split] = path
    return files


def _pick_column(
    header: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, where: Path
) -> str | None:
    lowered = {name.strip().lower(): name for name in header}
    if wanted is not None:
        if wanted in header:
            return wanted
        if wanted.lower() in lowered:
            return lowered[wanted.lower()]
        raise DataError(f"{where}: no column '{wanted}' for the {what}; columns are: {', '.join(header)}")
    return next((lowered[name] for name in candidates if name in lowered), None)


def _grade_names(labels: list[str], count_col: str | None) -> tuple[str, ...] | None:
    """The acne grade names when a lesion count column is present and every label is a grade name or index."""
    grades = {*GRADE_NAMES, *(str(index) for index in range(len(GRADE_NAMES)))}
    given = {label.strip() for label in labels} - {""}
    return GRADE_NAMES if count_col and given and given <= grades else None


def _read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]], list[int]]:
    """The header, the rows and each row's line number in the file (blank lines are skipped, not counted out)."""
    rows, lines = [], []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name for name in (reader.fieldnames or []) if name is not None]
            for row in reader:
                rows.append({key: (value or "") for key, value in row.items() if key is not None})
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if not header:
        raise DataError(f"{path}: empty CSV (no header row)")
    return header, rows, lines


def read_csv_manifest(path: Path, options: ReadOptions, split: str | None = None) -> ImageTable:
    """Read one CSV manifest; ``split`` overrides the split column (used for ``train.csv`` etc.)."""
    header, rows, row_lines = _read_csv_rows(path)
    path_col = _pick_column(header, options.path_column, PATH_COLUMNS, "image path", path)
    if path_col is None:
        raise DataError(
            f"{path}: no image path column; name one of {', '.join(PATH_COLUMNS)} or set data.path_column "
            f"(columns are: {', '.join(header)})"
        )
    label_col = _pick_column(header, options.label_column, LABEL_COLUMNS, "label", path)
    split_col = _pick_column(header, options.split_column, SPLIT_COLUMNS, "split", path)
    count_col = _pick_column(header, options.count_column, COUNT_COLUMNS, "lesion count", path)
    if options.paths_only:
        label_col = split_col = count_col = None
    group_col = _pick_column(header, options.group_column, GROUP_COLUMNS, "patient/group id", path)
    used = {path_col, label_col, split_col, ""}  # the group and count columns stay in meta too
    label_texts = [row.get(label_col, "") for row in rows] if label_col else []
    labels = LabelMap(label_texts, options.class_names or _grade_names(label_texts, count_col), str(path))
    records, lines = [], []
    for line, row in zip(row_lines, rows, strict=True):
        name = row.get(path_col, "").strip()
        if not name:
            raise DataError(f"{path} line {line}: empty image path")
        records.append(
            Record(
                path=resolve_image_path(name, path.parent),
                label=labels(row.get(label_col, ""), line) if label_col else None,
                split=split
                if split is not None
                else (normalise_split(row[split_col], f"{path} line {line}") if split_col else None),
                group=(row.get(group_col, "").strip() or None) if group_col else None,
                meta={key: value for key, value in row.items() if key not in used},
                count=parse_count(row.get(count_col, ""), f"{path} line {line}") if count_col else None,
                origin=f"{path} line {line}",
            )
        )
        lines.append(line)
    if options.check_files:
        check_files_exist(records, str(path), lines)
    return ImageTable(records, labels.class_names, source=str(path), format="csv_manifest")


def _detect_csv(root: Path) -> bool:
    return (root.is_file() and root.suffix.lower() == ".csv") or bool(_split_files(root, ".csv"))


def _read_csv(root: Path, options: ReadOptions) -> ImageTable:
    if root.is_file():
        return read_csv_manifest(root, options)
    files = _split_files(root, ".csv")
    # Read once to learn every label, then fix the class names so all splits share one index.
    if options.class_names is None:
        names: set[str] = set()
        for path in files.values():
            names.update(read_csv_manifest(path, ReadOptions(**{**options.__dict__, "check_files": False})).class_names)
        options = ReadOptions(**{**options.__dict__, "class_names": tuple(LabelMap(names, None, "").class_names)})
    tables = [read_csv_manifest(path, options, split) for split, path in files.items()]
    records = [record for table in tables for record in table.records]
    return ImageTable(records, list(options.class_names or ()), source=str(root), format="csv_manifest")


def _parse_list_line(text: str, where: str) -> tuple[str, str]:
    parts = text.rsplit(",", 1) if "," in text else text.rsplit(None, 1)
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise DataError(f"{where}: expected 'name,label' or 'name label', got '{text}'")
    return parts[0].strip(), parts[1].strip()


def _images_dir(list_file: Path, first_name: str, options: ReadOptions) -> Path:
    if options.images_dir is not None:
        folder = (list_file.parent / Path(options.images_dir).expanduser()).resolve()
        if not folder.is_dir():
            raise DataError(f"{list_file}: images_dir '{options.images_dir}' is not a folder")
        return folder
    for candidate in IMAGE_DIR_CANDIDATES:
        folder = (list_file.parent / candidate).resolve()
        if is_existing_file(resolve_image_path(first_name, folder)):
            return folder
    return list_file.parent


def _read_list_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    return [(number, line) for number, line in lines if line and not line.startswith("#")]


def _detect_lists(root: Path) -> bool:
    return (root.is_file() and root.suffix.lower() == ".txt") or bool(_split_files(root, ".txt"))


def _read_lists(root: Path, options: ReadOptions) -> ImageTable:
    files = {None: root} if root.is_file() else _split_files(root, ".txt")
    parsed = {
        split: [(number, *_parse_list_line(line, f"{path} line {number}")) for number, line in _read_list_lines(path)]
        for split, path in files.items()
    }
    labels = LabelMap((label for rows in parsed.values() for _, _, label in rows), options.class_names, str(root))
    records, lines = [], []
    for split, path in files.items():
        rows = parsed[split]
        if not rows:
            raise DataError(f"{path}: the list file holds no lines")
        folder = _images_dir(path, rows[0][1], options)
        for number, name, label in rows:
            labels.where = str(path)
            label_index = labels(label, number)
            records.append(Record(path=resolve_image_path(name, folder), label=label_index, split=split))
            lines.append(f"{number} of {path.name}")
    if options.check_files:
        check_files_exist(records, str(root), lines)
    return ImageTable(records, labels.class_names, source=str(root), format="list_files")


register_format(
    DatasetFormat(
        "csv_manifest",
        "a CSV of path,label[,patient_id,split] (paths relative to the CSV), or a folder of train.csv/val.csv/test.csv",
        _detect_csv,
        _read_csv,
    ),
    priority=0,
)
register_format(
    DatasetFormat(
        "list_files",
        "train.txt/val.txt/test.txt of 'name,label' lines beside an image folder",
        _detect_lists,
        _read_lists,
    ),
    priority=1,
)
