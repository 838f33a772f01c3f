"""The ``acne04`` reader: ACNE04 as distributed, one of its five published folds at a time.

ACNE04 (X. Wu, N. Wen, J. Liang, Y.-K. Lai, D. She, M.-M. Cheng, J. Yang, "Joint Acne Image Grading and Counting via
Label Distribution Learning", ICCV 2019) ships its images in ``JPEGImages/`` and five folds as list files
``NNEW_trainval_<k>.txt`` / ``NNEW_test_<k>.txt`` (k = 0..4), beside the images or under ``ImageSets/Main/``. Each line
is ``filename grade count``, whitespace-separated: ``grade`` indexes the grade names (``data.class_names``, default
mild, moderate, severe, very_severe) and ``count`` is the number of lesions. A line of only ``filename grade`` has no
count (kept, ``Record.count`` None). The fold is ``data.fold`` (default 0); its trainval list becomes split ``train``
(training carves its own validation images from it) and its test list split ``test``.

A malformed line (wrong number of tokens, a grade that is not an integer index of a grade name), a negative or
fractional count, and a missing image are one-line errors naming the list file and the line.
"""

from __future__ import annotations

import re
from pathlib import Path

from dermkit.data.acne import GRADE_NAMES, parse_count
from dermkit.data.formats import DatasetFormat, ReadOptions, register_format
from dermkit.data.manifests import _read_list_lines
from dermkit.data.records import ImageTable, Record, check_files_exist, is_existing_file, resolve_image_path
from dermkit.errors import DataError

LIST_DIRS = (".", "ImageSets/Main", "Classification", "VOC2007/ImageSets/Main")
# the LDL code reads a JPEGImages_300 copy, the LDS code Classification/JPEGImages; ../../ when root is ImageSets/Main
IMAGE_DIRS = (
    "JPEGImages",
    "Classification/JPEGImages",
    "JPEGImages_300",
    "VOC2007/JPEGImages",
    "../../JPEGImages",
    ".",
)
_TRAINVAL = re.compile(r"NNEW_trainval_(\d+)\.txt")


def _list_dir(root: Path) -> Path | None:
    """The first folder (``root`` or a known sub-folder) holding ``NNEW_trainval_<k>.txt`` files."""
    if not root.is_dir():
        return None
    for sub in LIST_DIRS:
        folder = root / sub
        if folder.is_dir() and any(_TRAINVAL.fullmatch(path.name) for path in folder.glob("NNEW_trainval_*.txt")):
            return folder
    return None


def acne04_fold_files(root: str | Path) -> list[tuple[int, Path, Path]]:
    """The published folds of an ACNE04 folder: ``(k, trainval list, test list)`` sorted by ``k``.

    Args:
        root: the ACNE04 folder (lists in it, or in ``ImageSets/Main/`` or ``Classification/``).

    Returns:
        One entry per fold whose two list files exist.

    Raises:
        DataError: when no ``NNEW_trainval_<k>.txt`` is found, or a fold lacks its ``NNEW_test_<k>.txt``.
    """
    root = Path(root).expanduser()
    folder = _list_dir(root)
    if folder is None:
        searched = ", ".join(str(root / sub) for sub in LIST_DIRS)
        raise DataError(f"{root}: no ACNE04 fold lists (NNEW_trainval_<k>.txt, NNEW_test_<k>.txt) in {searched}")
    folds = []
    for path in folder.glob("NNEW_trainval_*.txt"):
        match = _TRAINVAL.fullmatch(path.name)
        if match is None:
            continue
        k = int(match.group(1))
        test = folder / f"NNEW_test_{match.group(1)}.txt"
        if not test.is_file():
            raise DataError(f"{path}: fold {k} has no test list {test.name} beside it")
        folds.append((k, path, test))
    return sorted(folds)


def _images_dir(root: Path, first_name: str, options: ReadOptions) -> Path:
    """``data.images_dir`` (relative to ``root``), else the first known folder holding the first listed image."""
    if options.images_dir is not None:
        folder = root / Path(options.images_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"{root}: images_dir '{options.images_dir}' is not a folder")
        return folder
    for sub in IMAGE_DIRS:
        if is_existing_file(resolve_image_path(first_name, root / sub)):
            return root / sub
    return root / IMAGE_DIRS[0]


def _parse_line(text: str, where: str, num_grades: int) -> tuple[str, int, int | None]:
    """``filename grade [count]`` -> (name, grade index, count or None)."""
    tokens = text.split()
    if len(tokens) not in (2, 3):
        raise DataError(f"{where}: expected 'filename grade count' (3 whitespace-separated tokens), got '{text}'")
    name, grade = tokens[0], tokens[1]
    try:
        index = int(grade)
    except ValueError:
        raise DataError(f"{where}: grade '{grade}' is not an integer (0..{num_grades - 1})") from None
    if not 0 <= index < num_grades:
        raise DataError(f"{where}: grade {index} is outside 0..{num_grades - 1} (the {num_grades} grade names)")
    return name, index, parse_count(tokens[2], where) if len(tokens) == 3 else None


def _read_list(path: Path, split: str, root: Path, options: ReadOptions, num_grades: int) -> list[Record]:
    lines = _read_list_lines(path)
    rows = [(number, *_parse_line(line, f"{path} line {number}", num_grades)) for number, line in lines]
    if not rows:
        raise DataError(f"{path}: the list file holds no lines")
    folder = _images_dir(root, rows[0][1], options)
    records = [
        Record(
            path=resolve_image_path(name, folder),
            label=None if options.paths_only else grade,
            split=split,
            count=None if options.paths_only else count,
            origin=f"{path} line {number}",
        )
        for number, name, grade, count in rows
    ]
    if options.check_files:
        check_files_exist(records, str(path), [number for number, *_ in rows])
    return records


def read_acne04(root: Path, options: ReadOptions) -> ImageTable:
    """Read fold ``options.fold`` of an ACNE04 folder: trainval -> split ``train``, test -> split ``test``.

    Args:
        root: the ACNE04 folder.
        options: ``fold``, ``class_names`` (the grade names), ``images_dir``, ``check_files``, ``paths_only``.

    Returns:
        The table of both lists, grades as labels and lesion counts in ``Record.count``.
    """
    folds = {k: (trainval, test) for k, trainval, test in acne04_fold_files(root)}
    if options.fold not in folds:
        raise DataError(f"{root}: no ACNE04 fold {options.fold} (data.fold); folds found: {', '.join(map(str, folds))}")
    names = list(options.class_names or GRADE_NAMES)
    trainval, test = folds[options.fold]
    records = _read_list(trainval, "train", root, options, len(names))
    records += _read_list(test, "test", root, options, len(names))
    return ImageTable(records, names, source=str(root), format="acne04")


register_format(
    DatasetFormat(
        "acne04",
        "ACNE04: JPEGImages/ plus NNEW_trainval_<k>.txt/NNEW_test_<k>.txt of 'filename grade count' (data.fold=k)",
        lambda root: _list_dir(root) is not None,
        read_acne04,
    ),
    priority=0,
)
