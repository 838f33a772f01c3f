"""The ``spbl`` reader: SD-198 / SD-260 as the self-paced balance learning project lays them out.

SPBL (J. Yang, X. Wu et al., "Self-paced balance learning for clinical skin disease recognition", IEEE TNNLS 2020)
keeps each dataset as ``<dataset>/raw/images/...`` plus ``raw/train.txt`` and ``raw/val.txt``; each line is
``relative/image/path label`` (whitespace-separated; the label an integer class index 0..C-1; the path relative to
``raw/images/``, or to ``raw/``). Its code uses the "val" list as the TEST list, so this reader maps ``train.txt`` to
split ``train`` and ``val.txt`` to split ``test``: training carves its own validation images out of ``train`` and
never selects a model on the test list. ``data.root`` may be the dataset folder or its ``raw/`` folder; class names
are ``data.class_names`` (the labels index them) or the label numbers. A malformed line, a label that is not an integer
class index and a missing image are one-line errors naming the list file and the line.
"""

from __future__ import annotations

from pathlib import Path

from dermkit.data.formats import DatasetFormat, ReadOptions, register_format
from dermkit.data.manifests import _read_list_lines
from dermkit.data.records import ImageTable, LabelMap, Record, check_files_exist, is_existing_file, resolve_image_path
from dermkit.errors import DataError

LISTS = {"train": "train.txt", "test": "val.txt"}  # SPBL's val list is its test list
LAYOUT = "SPBL: raw/images/... plus raw/train.txt, raw/val.txt of 'path label' lines (val.txt is the test list)"


def _raw_dir(root: Path) -> Path | None:
    """``root/raw`` (or ``root`` itself when it is a ``raw`` folder) holding both lists and an ``images`` folder and
    no ``test.txt`` (train/val/test lists are the generic ``list_files`` layout, whose val list is a val list)."""
    for folder in (root / "raw", root) if root.name != "raw" else (root,):
        lists = all((folder / name).is_file() for name in LISTS.values())
        if lists and (folder / "images").is_dir() and not (folder / "test.txt").exists():
            return folder
    return None


def _parse(text: str, where: str) -> tuple[str, str]:
    parts = text.rsplit(None, 1)
    if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
        raise DataError(f"{where}: expected 'relative/path label' with an integer class index, got '{text}'")
    return parts[0], parts[1]


def _images_dir(raw: Path, first: str, options: ReadOptions) -> Path:
    if options.images_dir is not None:
        folder = raw / Path(options.images_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"{raw}: images_dir '{options.images_dir}' is not a folder")
        return folder
    for folder in (raw / "images", raw):
        if is_existing_file(resolve_image_path(first, folder)):
            return folder
    return raw / "images"


def read_spbl(root: Path, options: ReadOptions) -> ImageTable:
    """Read an SPBL dataset folder: ``train.txt`` -> split ``train``, ``val.txt`` -> split ``test``.

    Args:
        root: the dataset folder (holding ``raw/``) or its ``raw/`` folder.
        options: ``class_names``, ``images_dir`` (relative to ``raw/``), ``check_files``, ``paths_only``.

    Returns:
        Both lists' images, labelled by class index.
    """
    raw = _raw_dir(root)
    if raw is None:
        raise DataError(f"{root}: not the SPBL layout ({LAYOUT})")
    parsed = {}
    for split, name in LISTS.items():
        path = raw / name
        parsed[split] = (path, [(n, *_parse(line, f"{path} line {n}")) for n, line in _read_list_lines(path)])
        if not parsed[split][1]:
            raise DataError(f"{path}: the list file holds no lines")
    labels = LabelMap([label for _, rows in parsed.values() for *_, label in rows], options.class_names, str(raw))
    folder = _images_dir(raw, parsed["train"][1][0][1], options)
    records, lines = [], []
    for split, (path, rows) in parsed.items():
        labels.where = str(path)
        for number, name, label in rows:
            index = None if options.paths_only else labels(label, number)
            origin = f"{path} line {number}"
            records.append(Record(path=resolve_image_path(name, folder), label=index, split=split, origin=origin))
            lines.append(f"{number} of {path.name}")
    if options.check_files:
        check_files_exist(records, str(raw), lines)
    return ImageTable(records, labels.class_names, source=str(root), format="spbl")


register_format(DatasetFormat("spbl", LAYOUT, lambda root: _raw_dir(root) is not None, read_spbl), priority=0)
