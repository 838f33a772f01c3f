"""Tests for dermkit.data.records and dermkit.data.formats: records, label maps, folder layouts and detection."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from PIL import Image

from dermkit.data import FORMATS, detect_format, read_dataset
from dermkit.data.records import (
    ImageTable,
    LabelMap,
    Record,
    check_files_exist,
    normalise_split,
    resolve_image_path,
    sorted_class_names,
)
from dermkit.errors import DataError, DermkitError
from dermkit.registry import RegistryError

_COLOURS = itertools.count(1)


def _image(path: Path, fmt: str | None = None) -> Path:
    """Write a tiny RGB image whose bytes differ from every other image this module writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    index = next(_COLOURS)
    Image.new("RGB", (8, 8), (index % 256, index // 256 % 256, 77)).save(path, format=fmt)
    return path


def _class_folders(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        for i in range(count):
            _image(root / name / f"{name}_{i}.png")
    return root


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# --- records -------------------------------------------------------------------------------------------------------


def test_data_error_is_a_dermkit_error_and_value_error() -> None:
    assert issubclass(DataError, DermkitError)
    assert issubclass(DataError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Train", "train"), ("training", "train"), (" VALIDATION ", "val"), ("dev", "val"), ("valid", "val"),
     ("Test", "test"), ("tst", "test"), ("", None), ("   ", None)],
)  # fmt: skip
def test_normalise_split_maps_aliases(text: str, expected: str | None) -> None:
    assert normalise_split(text, "x.csv line 2") == expected


def test_normalise_split_unknown_value_names_place_and_value() -> None:
    with pytest.raises(DataError, match=r"x\.csv line 7: unknown split 'holdout'"):
        normalise_split("holdout", "x.csv line 7")


def test_label_map_sorts_names_alphabetically() -> None:
    labels = LabelMap(["nevus", "melanoma", "bcc", "nevus"], None, "m.csv")
    assert labels.class_names == ["bcc", "melanoma", "nevus"]
    assert labels("melanoma") == 1


def test_label_map_sorts_integer_labels_numerically() -> None:
    labels = LabelMap(["10", "2", "0", "1", "9"], None, "l.txt")
    assert labels.class_names == ["0", "1", "2", "9", "10"]
    assert labels("10") == 4
    assert labels("02") == 2  # same integer, other spelling


def test_label_map_with_fixed_class_names_accepts_names_and_indices() -> None:
    labels = LabelMap([], ["benign", "malignant"], "l.txt")
    assert labels("malignant") == 1
    assert labels("0") == 0
    assert labels(" 1 ") == 1


def test_label_map_empty_label_is_unlabelled() -> None:
    assert LabelMap(["a"], None, "m.csv")("  ") is None


def test_label_map_unknown_label_names_source_line_and_classes() -> None:
    labels = LabelMap([], ["benign", "malignant"], "m.csv")
    with pytest.raises(DataError) as exc:
        labels("mel", 12)
    message = _one_line(exc)
    assert message.startswith("m.csv line 12: unknown label 'mel'")
    assert "benign, malignant" in message


def test_label_map_index_out_of_range_is_unknown() -> None:
    with pytest.raises(DataError, match="unknown label '2'"):
        LabelMap([], ["benign", "malignant"], "l.txt")("2", 3)


def test_sorted_class_names_numeric_only_when_all_are_integers() -> None:
    assert sorted_class_names(["10", "2", "1"]) == ["1", "2", "10"]
    assert sorted_class_names(["10", "2", "b"]) == ["10", "2", "b"]
    assert sorted_class_names(["02", "10", "01"]) == ["01", "02", "10"]  # spelling kept


def test_resolve_image_path_relative_to_base_and_adds_missing_extension(tmp_path: Path) -> None:
    image = _image(tmp_path / "imgs" / "ISIC_0000001.jpg")
    assert resolve_image_path("imgs/ISIC_0000001", tmp_path) == image
    assert resolve_image_path(" imgs/ISIC_0000001.jpg ", tmp_path) == image
    assert resolve_image_path(str(image), tmp_path / "elsewhere") == image


def test_resolve_image_path_unknown_user_home_does_not_raise(tmp_path: Path) -> None:
    path = resolve_image_path("~no_such_user_dermkit/a.jpg", tmp_path)
    assert path == tmp_path / "~no_such_user_dermkit" / "a.jpg"


def test_resolve_image_path_without_a_name_does_not_raise(tmp_path: Path) -> None:
    assert resolve_image_path("/", tmp_path) == Path("/")


def test_check_files_exist_names_first_missing_file_its_line_and_count(tmp_path: Path) -> None:
    good = _image(tmp_path / "a.png")
    records = [Record(good), Record(tmp_path / "gone1.png"), Record(tmp_path / "gone2.png")]
    with pytest.raises(DataError) as exc:
        check_files_exist(records, "m.csv", [2, 3, 4])
    message = _one_line(exc)
    assert message.startswith("m.csv line 3: file not found:")
    assert "gone1.png" in message
    assert "(2 of 3 files named are missing)" in message


def test_check_files_exist_overlong_name_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        check_files_exist([Record(tmp_path / ("x" * 300 + ".png"))], "l.txt")


def test_image_table_counts_splits_and_subsets(tmp_path: Path) -> None:
    records = [
        Record(tmp_path / "1.png", 0, "test"),
        Record(tmp_path / "2.png", 2, "train"),
        Record(tmp_path / "3.png", 2, "train"),
        Record(tmp_path / "4.png", 0, None),
    ]
    table = ImageTable(records, ["a", "b", "c"], source="s")
    assert table.num_classes == 3
    assert table.class_counts() == [2, 0, 2]
    assert table.splits == ["train", "test"]
    train = table.subset("train")
    assert [r.path.name for r in train.records] == ["2.png", "3.png"]
    assert train.class_names == ["a", "b", "c"]
    assert len(table.subset(["train", "test"])) == 3
    assert table.labels() == [0, 2, 2, 0]


def test_image_table_labels_raises_when_an_image_is_unlabelled(tmp_path: Path) -> None:
    table = ImageTable([Record(tmp_path / "1.png", 0), Record(tmp_path / "2.png")], ["a"], source="m.csv")
    with pytest.raises(DataError, match=r"m\.csv: 1 images have no label"):
        table.labels()


# --- class folders -------------------------------------------------------------------------------------------------


def test_class_folders_are_detected_with_sorted_names_and_counts(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"nevus": 3, "melanoma": 2, "bcc": 1})
    table = read_dataset(root)
    assert table.format == "class_folders"
    assert table.class_names == ["bcc", "melanoma", "nevus"]
    assert table.class_counts() == [1, 2, 3]
    assert all(record.split is None for record in table.records)
    assert [table.class_names[r.label] for r in table.records] == ["bcc", "melanoma", "melanoma"] + ["nevus"] * 3
    assert all(record.path.parent.name == table.class_names[record.label] for record in table.records)


def test_class_folders_read_every_image_extension_and_skip_other_files(tmp_path: Path) -> None:
    root = tmp_path / "data"
    names = {"a.jpg": "JPEG", "b.jpeg": "JPEG", "c.png": "PNG", "d.bmp": "BMP", "e.tif": "TIFF", "F.PNG": "PNG"}
    for name, fmt in names.items():
        _image(root / "nevus" / name, fmt)
    _image(root / "nevus" / "deeper" / "g.png")  # recursive
    _image(root / "nevus" / ".hidden.png")
    _image(root / "nevus" / ".cache" / "h.png")
    (root / "nevus" / "notes.txt").write_text("not an image")
    _image(root / ".trash" / "i.png")  # hidden class folder
    table = read_dataset(root)
    assert table.class_names == ["nevus"]
    assert sorted(r.path.name for r in table.records) == sorted([*names, "g.png"])


def test_class_folders_with_integer_names_sort_numerically(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "grades", {str(k): 1 for k in range(12)})
    table = read_dataset(root)
    assert table.class_names == [str(k) for k in range(12)]
    assert all(record.path.parent.name == str(record.label) for record in table.records)


def test_class_folders_empty_class_raises_naming_the_folder(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"melanoma": 2})
    (root / "nevus").mkdir()
    (root / "nevus" / "readme.txt").write_text("todo")
    with pytest.raises(DataError) as exc:
        read_dataset(root)
    message = _one_line(exc)
    assert str(root / "nevus") in message
    assert "no images" in message


def test_class_folders_with_fixed_class_names_keep_that_order(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"benign": 2, "malignant": 1})
    table = read_dataset(root, class_names=["malignant", "benign", "unseen"])
    assert table.class_names == ["malignant", "benign", "unseen"]
    assert table.class_counts() == [1, 2, 0]


def test_class_folder_outside_fixed_class_names_raises(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"benign": 1, "malignant": 1})
    with pytest.raises(DataError, match=r"class folder 'malignant' is not among data\.class_names"):
        read_dataset(root, class_names=["benign"])


# --- split folders -------------------------------------------------------------------------------------------------


def test_split_folders_are_detected_with_splits_and_one_class_index(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _class_folders(root / "train", {"mel": 2, "nv": 3})
    _class_folders(root / "valid", {"nv": 1})  # alias of val, one class absent
    _class_folders(root / "Test", {"bcc": 1, "mel": 1})
    table = read_dataset(root)
    assert table.format == "split_folders"
    assert table.class_names == ["bcc", "mel", "nv"]
    assert table.splits == ["train", "val", "test"]
    assert table.subset("train").class_counts() == [0, 2, 3]
    assert table.subset("val").class_counts() == [0, 0, 1]
    assert table.subset("test").class_counts() == [1, 1, 0]
    for record in table.records:
        assert record.path.parent.name == table.class_names[record.label]


def test_split_folders_class_empty_in_one_split_only_is_allowed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _class_folders(root / "train", {"mel": 1, "nv": 1})
    _class_folders(root / "val", {"nv": 1})
    (root / "val" / "mel").mkdir()
    assert read_dataset(root).class_counts() == [1, 2]


def test_split_folders_class_empty_in_every_split_raises(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _class_folders(root / "train", {"nv": 1})
    (root / "train" / "mel").mkdir()
    (root / "val" / "mel").mkdir(parents=True)
    with pytest.raises(DataError, match="mel: class folder holds no images"):
        read_dataset(root)


def test_split_folders_integer_classes_sort_numerically(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _class_folders(root / "train", {"2": 1, "10": 1})
    _class_folders(root / "test", {"2": 1})
    assert read_dataset(root).class_names == ["2", "10"]


# --- detection and read_dataset ------------------------------------------------------------------------------------


def test_builtin_formats_are_registered() -> None:
    assert {"class_folders", "split_folders", "csv_manifest", "list_files"} <= set(FORMATS.names())


def test_unrecognised_layout_raises_one_line_listing_every_layout(tmp_path: Path) -> None:
    _image(tmp_path / "flat" / "a.png")  # images with no class folder
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "flat")
    message = _one_line(exc)
    assert message.startswith(f"{tmp_path / 'flat'}: no dataset layout recognised")
    for name in ("csv_manifest", "list_files", "split_folders", "class_folders"):
        assert name in message


def test_a_single_image_file_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no dataset layout recognised"):
        read_dataset(_image(tmp_path / "a.png"))


def test_missing_dataset_path_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset path does not exist"):
        read_dataset(tmp_path / "nowhere")


def test_unknown_read_option_raises_data_error(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"a": 1})
    with pytest.raises(DataError, match="unknown dataset option"):
        read_dataset(root, labels_column="x")


def test_unknown_format_name_lists_the_choices(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"a": 1})
    with pytest.raises(RegistryError, match=r"choose one of: .*class_folders"):
        read_dataset(root, format="imagefolder")


def test_manifest_beside_class_folders_wins_detection_but_format_can_be_forced(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"a": 2, "b": 1})
    (root / "train.csv").write_text("path,label\na/a_0.png,a\n")
    assert detect_format(root).name == "csv_manifest"
    assert len(read_dataset(root)) == 1
    forced = read_dataset(root, format="class_folders")
    assert forced.format == "class_folders"
    assert len(forced) == 3


def test_split_folders_win_over_class_folders(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _class_folders(root / "train", {"a": 1})
    _class_folders(root / "extra", {"b": 1})  # looks like a class folder too
    assert detect_format(root).name == "split_folders"


def test_empty_folder_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no dataset layout recognised"):
        read_dataset(tmp_path / "empty")


def test_read_dataset_expands_user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _class_folders(tmp_path / "data", {"a": 1})
    assert len(read_dataset("~/data")) == 1
