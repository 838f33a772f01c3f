"""Dataset formats: one registry of readers, and auto-detection of which one fits a path.

Built in: ``class_folders`` (``root/<class>/*.jpg``), ``split_folders`` (``root/{train,val,test}/<class>/*.jpg``),
``csv_manifest`` (a CSV of ``path,label[,patient_id,split]``, or a folder of ``train.csv``/``val.csv``/``test.csv``)
and ``list_files`` (``train.txt``/``val.txt``/``test.txt`` of ``name,label`` beside an image folder). Public datasets
register their own readers here too.

Example:
    >>> table = read_dataset("data/melanoma")          # detects the layout
    >>> table.class_names, table.class_counts()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ConfigDict, ValidationError

from dermkit.config import ReaderOptions
from dermkit.data.decode import IMAGE_EXTENSIONS, is_image_file
from dermkit.data.records import SPLIT_ALIASES, ImageTable, Record, sorted_class_names
from dermkit.errors import DataError
from dermkit.registry import Registry


class ReadOptions(ReaderOptions):
    """What a user may tell a reader (:class:`dermkit.config.ReaderOptions`; ``None`` means detect), plus two
    switches commands set for themselves.

    Attributes:
        check_files: raise when a manifest names a missing file (predict turns this off and reports rows instead).
        paths_only: read only the image paths of a manifest; label and split columns stay plain metadata (predict).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_files: bool = True
    paths_only: bool = False


@dataclass(frozen=True)
class DatasetFormat:
    """A reader: ``detect(path)`` says whether the path looks like this format; ``read`` makes the table."""

    name: str
    layout: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, ReadOptions], ImageTable]


FORMATS: Registry[DatasetFormat] = Registry("data format")
_DETECTION_ORDER: list[str] = []


def register_format(fmt: DatasetFormat, *, priority: int | None = None) -> DatasetFormat:
    """Register a reader; ``priority`` places it earlier in auto-detection (0 = first)."""
    FORMATS.register(fmt.name, fmt)
    _DETECTION_ORDER.insert(len(_DETECTION_ORDER) if priority is None else priority, fmt.name)
    return fmt


def detect_format(root: Path) -> DatasetFormat:
    """The first registered format whose ``detect`` accepts ``root``; a clear error listing layouts otherwise."""
    for name in _DETECTION_ORDER:
        fmt = FORMATS.get(name)
        if fmt.detect(root):
            return fmt
    expected = "; ".join(f"{FORMATS.get(name).name}: {FORMATS.get(name).layout}" for name in _DETECTION_ORDER)
    raise DataError(f"{root}: no dataset layout recognised; expected one of: {expected}")


def read_dataset(root: str | Path, format: str | None = None, **options: object) -> ImageTable:
    """Read a dataset, detecting its format unless ``format`` names one.

    Args:
        root: a folder, a CSV manifest or a list file.
        format: a registered format name (see :data:`FORMATS`), or None to detect.
        **options: fields of :class:`ReadOptions` (``class_names``, ``label_column``...).

    Returns:
        The records with sorted class names.
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"{path}: dataset path does not exist")
    try:
        read_options = ReadOptions(**options)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(map(str, error["loc"]))
        if error["type"] == "extra_forbidden":
            raise DataError(f"unknown dataset option '{key}'; valid: {', '.join(ReaderOptions.model_fields)}") from None
        raise DataError(f"dataset option '{key}': {error['msg']}") from None
    fmt = detect_format(path) if format is None else FORMATS.get(format)
    table = fmt.read(path, read_options)
    if not table.records:
        raise DataError(f"{path}: the dataset holds no images ({fmt.name} layout)")
    return table


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively, hidden files and folders skipped), sorted."""
    found = [
        path
        for path in folder.rglob("*")
        if is_image_file(path)
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    ]
    return sorted(found)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))


def _has_class_folders(folder: Path) -> bool:
    return folder.is_dir() and any(image_files(child) for child in _class_dirs(folder))


def _split_dirs(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    return {
        SPLIT_ALIASES[child.name.lower()]: child for child in _class_dirs(root) if child.name.lower() in SPLIT_ALIASES
    }


def _folder_records(folder: Path, class_names: Sequence[str], split: str | None) -> list[Record]:
    records = []
    for index, name in enumerate(class_names):
        class_dir = folder / name
        if class_dir.is_dir():
            records.extend(Record(path=path, label=index, split=split) for path in image_files(class_dir))
    return records


def _checked_class_names(found: Sequence[str], options: ReadOptions, where: Path) -> list[str]:
    if options.class_names is None:
        return sorted_class_names(found)
    unknown = sorted(set(found) - set(options.class_names))
    if unknown:
        raise DataError(
            f"{where}: class folder '{unknown[0]}' is not among data.class_names ({', '.join(options.class_names)})"
        )
    return list(options.class_names)


def _detect_class_folders(root: Path) -> bool:
    return root.is_dir() and not _split_dirs(root) and _has_class_folders(root)


def _check_no_empty_class(folders: Sequence[Path], records: Sequence[Record], class_names: Sequence[str]) -> None:
    """Raise naming the first class folder on disk none of whose images (in any split) was found."""
    filled = {class_names[record.label] for record in records if record.label is not None}
    empty = [folder for folder in folders if folder.name not in filled]
    if empty:
        raise DataError(f"{empty[0]}: class folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")


def _read_class_folders(root: Path, options: ReadOptions) -> ImageTable:
    folders = _class_dirs(root)
    names = _checked_class_names([child.name for child in folders], options, root)
    records = _folder_records(root, names, None)
    _check_no_empty_class(folders, records, names)
    return ImageTable(records, names, source=str(root), format="class_folders")


def _detect_split_folders(root: Path) -> bool:
    splits = _split_dirs(root)
    return bool(splits) and any(_has_class_folders(folder) for folder in splits.values())


def _read_split_folders(root: Path, options: ReadOptions) -> ImageTable:
    splits = _split_dirs(root)
    found = {child.name for folder in splits.values() for child in _class_dirs(folder)}
    names = _checked_class_names(sorted(found), options, root)
    records = [record for split, folder in splits.items() for record in _folder_records(folder, names, split)]
    _check_no_empty_class([child for folder in splits.values() for child in _class_dirs(folder)], records, names)
    return ImageTable(records, names, source=str(root), format="split_folders")


register_format(
    DatasetFormat("split_folders", "root/{train,val,test}/<class>/*.jpg", _detect_split_folders, _read_split_folders)
)
register_format(
    DatasetFormat("class_folders", "root/<class>/*.{jpg,jpeg,png,bmp,tif}", _detect_class_folders, _read_class_folders)
)
