"""Readers for public dermatology datasets, registered in the dataset-format registry on import.

* ``medmnist``: MedMNIST v2 ``.npz`` files such as ``dermamnist.npz`` (see :mod:`dermkit.data.public.medmnist`).
* ``ham10000``: ``HAM10000_metadata.csv`` (``lesion_id,image_id,dx,dx_type,age,sex,localization``) with the images in
  ``HAM10000_images_part_1/``, ``HAM10000_images_part_2/``, ``images/`` or beside the CSV. Label = ``dx``, group =
  ``lesion_id`` (images of one lesion never straddle splits); age, sex and localization stay as metadata.
* ``isic``: the ISIC 2019 ground truth (``image`` + one-hot ``MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK``, joined with
  ``ISIC_2019_Training_Metadata.csv`` when it lies beside it) and the ISIC 2020 ground truth (``image_name``,
  ``patient_id``, ..., ``benign_malignant``). ISIC 2019 classes are the one-hot columns without UNK, sorted
  alphabetically (AK, BCC, BKL, DF, MEL, NV, SCC, VASC, as in the D-KD project); rows with no positive class are
  skipped with one warning, and a log line says UNK is kept out. ``data.fold=k`` (1..5) splits ISIC 2019 by the
  D-KD protocol (:mod:`dermkit.data.public.isic_protocol`). ISIC 2020 labels are benign/malignant, grouped by patient.

Each format is detected from the CSV header (or a folder holding exactly one such CSV) and is checked before the
generic CSV manifest; a CSV that also has a path or split column is left to ``csv_manifest``.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from dermkit.data.decode import is_image_file
from dermkit.data.formats import DatasetFormat, ReadOptions, register_format
from dermkit.data.manifests import _read_csv_rows
from dermkit.data.public import medmnist as _medmnist  # registers medmnist
from dermkit.data.public.isic_protocol import protocol_splits
from dermkit.data.records import ImageTable, LabelMap, Record
from dermkit.errors import DataError

log = logging.getLogger("dermkit")
HAM10000_CLASSES = _medmnist.DERMAMNIST_CLASSES  # the seven dx codes, alphabetical
ISIC2019_METADATA = "ISIC_2019_Training_Metadata.csv"
ISIC_ONE_HOT = ("MEL", "NV", "BCC", "AK", "AKIEC", "BKL", "DF", "VASC", "SCC", "UNK")
HAM_IMAGE_DIRS = ("HAM10000_images_part_1", "HAM10000_images_part_2", "ham10000_images_part_1",
                  "ham10000_images_part_2", "HAM10000_images", "images")  # fmt: skip
ISIC2019_IMAGE_DIRS = ("ISIC_2019_Training_Input", "ISIC_2019_Training_Input/ISIC_2019_Training_Input", "images")
ISIC2020_IMAGE_DIRS = ("train", "ISIC_2020_Training_JPEG", "ISIC_2020_Training_JPEG/train", "jpeg/train", "images")
# Columns that mark a generic manifest (dermkit's own CSVs), which these readers must never take over.
_MANIFEST_COLUMNS = {"path", "filepath", "file", "filename", "image_path", "split", "subset", "partition"}


def _header(path: Path) -> list[str]:
    """The first row of a CSV, stripped; empty when it cannot be read as UTF-8 CSV text."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _is_ham(header: Sequence[str]) -> bool:
    names = {name.lower() for name in header}
    return {"lesion_id", "image_id", "dx"} <= names and not names & _MANIFEST_COLUMNS


def _is_isic2019(header: Sequence[str]) -> bool:
    return "image" in header and {"MEL", "NV", "BCC"} <= set(header) and not set(header) & _MANIFEST_COLUMNS


def _is_isic2020(header: Sequence[str]) -> bool:
    return {"image_name", "benign_malignant"} <= set(header) and not set(header) & _MANIFEST_COLUMNS


def _is_isic(header: Sequence[str]) -> bool:
    return _is_isic2019(header) or _is_isic2020(header)


def _find_csv(root: Path, accepts: Callable[[Sequence[str]], bool], name_prefix: str = "") -> Path | None:
    """``root`` when it is a CSV ``accepts`` likes, or the one such CSV (named ``name_prefix*``) in the folder."""
    if root.is_file():
        return root if root.suffix.lower() == ".csv" and accepts(_header(root)) else None
    if not root.is_dir():
        return None
    found = [
        path
        for path in sorted(root.glob("*"))
        if path.suffix.lower() == ".csv" and path.name.lower().startswith(name_prefix) and path.is_file()
    ]
    found = [path for path in found if accepts(_header(path))]
    return found[0] if len(found) == 1 else None


def _csv_or_error(root: Path, accepts: Callable[[Sequence[str]], bool], prefix: str, what: str) -> Path:
    path = _find_csv(root, accepts, prefix)
    if path is None:
        raise DataError(f"{root}: not {what} (or a folder holding exactly one)")
    return path


class _ImageFinder:
    """Finds ``name`` (an image id with or without extension) in a few candidate folders beside a CSV."""

    def __init__(self, csv_path: Path, subdirs: Sequence[str], options: ReadOptions) -> None:
        base = csv_path.parent
        if options.images_dir is not None:
            folder = base / Path(options.images_dir).expanduser()
            if not folder.is_dir():
                raise DataError(f"{csv_path}: images_dir '{options.images_dir}' is not a folder")
            self.folders = [folder]
        else:
            self.folders = [base / sub for sub in subdirs if (base / sub).is_dir()] + [base]
        self.index: dict[str, Path] = {}
        for folder in reversed(self.folders):  # earlier folders win
            with os.scandir(folder) as entries:
                for entry in entries:
                    if is_image_file(entry.name) and entry.is_file():
                        self.index[entry.name] = self.index[Path(entry.name).stem] = Path(entry.path)
        self.csv_path = csv_path
        self.missing: list[tuple[int, str]] = []

    def find(self, name: str, line: int) -> Path:
        """The image's path; a missing one is remembered (see :meth:`check`) and a guessed path returned."""
        if not name:
            raise DataError(f"{self.csv_path} line {line}: empty image id")
        found = self.index.get(name)
        if found is None:
            self.missing.append((line, name))
            return self.folders[0] / (name if Path(name).suffix else f"{name}.jpg")
        return found

    def check(self, total: int) -> None:
        """Raise naming the first missing image, its line and the folders searched."""
        if self.missing:
            line, name = self.missing[0]
            searched = ", ".join(str(folder) for folder in self.folders)
            raise DataError(
                f"{self.csv_path} line {line}: image file {name} not found in {searched} "
                f"({len(self.missing)} of {total} images missing)"
            )


def read_ham10000(root: Path, options: ReadOptions) -> ImageTable:
    """Read ``HAM10000_metadata.csv`` (or a folder holding it): label ``dx``, group ``lesion_id``, the rest as meta."""
    path = _csv_or_error(root, _is_ham, "ham10000_metadata", "a HAM10000 metadata CSV (lesion_id, image_id, dx)")
    header, rows, lines = _read_csv_rows(path)
    columns = {name.strip().lower(): name for name in header}
    image_col, dx_col, lesion_col = columns["image_id"], columns["dx"], columns["lesion_id"]
    labels = LabelMap((row[dx_col] for row in rows), options.class_names, str(path))
    finder = _ImageFinder(path, HAM_IMAGE_DIRS, options)
    records = [
        Record(
            path=finder.find(row[image_col].strip(), line),
            label=None if options.paths_only else labels(row[dx_col], line),
            group=row[lesion_col].strip() or None,
            meta={key: value for key, value in row.items() if key not in (image_col, dx_col)},
        )
        for line, row in zip(lines, rows, strict=True)
    ]
    if options.check_files:
        finder.check(len(records))
    return ImageTable(records, labels.class_names, source=str(path), format="ham10000")


def _is_positive(value: str, where: str) -> bool:
    text = value.strip()
    try:
        return bool(text) and float(text) > 0.5
    except ValueError:
        raise DataError(f"{where}: one-hot value '{text}' is not a number") from None


def _isic2019_metadata(path: Path) -> dict[str, dict[str, str]]:
    """Rows of ``ISIC_2019_Training_Metadata.csv`` (the ground-truth name with Metadata) by image id, if present."""
    candidates = (path.with_name(path.name.replace("GroundTruth", "Metadata")), path.with_name(ISIC2019_METADATA))
    meta_path = next((p for p in candidates if p != path and p.is_file()), None)
    if meta_path is None:
        return {}
    header, rows, _ = _read_csv_rows(meta_path)
    if "image" not in header:
        raise DataError(f"{meta_path}: ISIC metadata CSV has no 'image' column")
    return {row["image"].strip(): {k: v for k, v in row.items() if k != "image"} for row in rows}


def _read_isic2019(path: Path, options: ReadOptions) -> ImageTable:
    header, rows, lines = _read_csv_rows(path)
    one_hot = [name for name in header if name.upper() in ISIC_ONE_HOT and name.upper() != "UNK"]
    unused = {"image", *(name for name in header if name.upper() in ISIC_ONE_HOT)}
    labels = LabelMap(one_hot, options.class_names, str(path))
    metadata = _isic2019_metadata(path)
    finder = _ImageFinder(path, ISIC2019_IMAGE_DIRS, options)
    unk_column = next((name for name in header if name.upper() == "UNK"), None)
    records, skipped, unknown = [], 0, 0
    for line, row in zip(lines, rows, strict=True):
        where = f"{path} line {line}"
        positives = [name for name in one_hot if _is_positive(row[name], where)]
        if len(positives) > 1:
            image = row["image"].strip()
            raise DataError(f"{where}: image {image} has more than one positive class ({', '.join(positives)})")
        if not positives:
            skipped += 1
            unknown += bool(unk_column) and _is_positive(row[unk_column], where)
            continue
        image = row["image"].strip()
        meta = {key: value for key, value in row.items() if key not in unused}
        meta.update(metadata.get(image, {}))
        records.append(
            Record(
                path=finder.find(image, line),
                label=None if options.paths_only else labels(positives[0], line),
                group=meta.get("lesion_id", "").strip() or None,
                meta=meta,
            )
        )
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} rows with no positive class (all zero or only UNK)", stacklevel=2)
    if unk_column:
        log.info("%s: UNK is not a training class; %d UNK rows kept out", path, unknown)
    if options.check_files:
        finder.check(len(records))
    if options.fold and not options.paths_only:  # the D-KD protocol's splits (data.fold=1..5)
        splits = protocol_splits([r.label for r in records], [r.group for r in records], options.fold, str(path))
        records = [replace(record, split=split) for record, split in zip(records, splits, strict=True)]
        counts = ", ".join(f"{name} {splits.count(name)}" for name in ("train", "val", "test"))
        log.info("%s: D-KD protocol, fold %d validating: %s (lesions grouped)", path, options.fold, counts)
    return ImageTable(records, labels.class_names, source=str(path), format="isic")


def _read_isic2020(path: Path, options: ReadOptions) -> ImageTable:
    _, rows, lines = _read_csv_rows(path)
    labels = LabelMap((), options.class_names or ("benign", "malignant"), str(path))
    finder = _ImageFinder(path, ISIC2020_IMAGE_DIRS, options)
    records = [
        Record(
            path=finder.find(row["image_name"].strip(), line),
            label=None if options.paths_only else labels(row["benign_malignant"].strip().lower(), line),
            group=row.get("patient_id", "").strip() or None,
            meta={key: value for key, value in row.items() if key not in ("image_name", "benign_malignant")},
        )
        for line, row in zip(lines, rows, strict=True)
    ]
    if options.check_files:
        finder.check(len(records))
    return ImageTable(records, labels.class_names, source=str(path), format="isic")


def read_isic(root: Path, options: ReadOptions) -> ImageTable:
    """Read an ISIC 2019 or ISIC 2020 ground-truth CSV (or a folder holding exactly one)."""
    path = _csv_or_error(root, _is_isic, "", "an ISIC 2019/2020 ground-truth CSV")
    return _read_isic2019(path, options) if _is_isic2019(_header(path)) else _read_isic2020(path, options)


register_format(
    DatasetFormat(
        "ham10000",
        "HAM10000_metadata.csv (lesion_id,image_id,dx,...) beside HAM10000_images_part_1/ and _part_2/",
        lambda root: _find_csv(root, _is_ham, "ham10000_metadata") is not None,
        read_ham10000,
    ),
    priority=0,
)
register_format(
    DatasetFormat(
        "isic",
        "ISIC_2019_Training_GroundTruth.csv (image + one-hot MEL,NV,BCC,...) or ISIC_2020_Training_GroundTruth.csv",
        lambda root: _find_csv(root, _is_isic) is not None,
        read_isic,
    ),
    priority=0,
)
