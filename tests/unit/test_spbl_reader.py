"""The spbl reader: raw/images plus raw/train.txt and raw/val.txt; its val list is the test list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermkit.data import detect_format, read_dataset
from dermkit.engine.setup import training_data
from dermkit.errors import DataError


def write_spbl(root: Path, train: dict[str, int], val: dict[str, int], prefix: str = "") -> Path:
    """``root/raw/images/<label>/<n>.jpg`` listed as ``<prefix><label>/<n>.jpg label`` lines in the two lists."""
    raw = root / "raw"
    lines: dict[str, list[str]] = {"train.txt": [], "val.txt": []}
    n = 0
    for name, counts in (("train.txt", train), ("val.txt", val)):
        for label, count in counts.items():
            for _ in range(count):
                path = raw / "images" / label / f"{n:03d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((8, 8, 3), n % 255, np.uint8)).save(path)
                lines[name].append(f"{prefix}{label}/{n:03d}.jpg {label}")
                n += 1
    for name, rows in lines.items():
        (raw / name).write_text("\n".join(rows) + "\n")
    return root


def test_train_list_is_train_and_val_list_is_test(tmp_path: Path) -> None:
    root = write_spbl(tmp_path / "sd", {"0": 3, "1": 2, "2": 4}, {"0": 1, "1": 1, "2": 2})
    table = read_dataset(root)
    assert table.format == "spbl" and table.class_names == ["0", "1", "2"]
    assert table.subset("train").class_counts() == [3, 2, 4]
    assert table.subset("test").class_counts() == [1, 1, 2]
    assert table.splits == ["train", "test"]
    assert all(record.path.is_file() and "raw/images" in record.path.as_posix() for record in table.records)
    assert read_dataset(root / "raw").class_counts() == table.class_counts()  # the raw/ folder reads the same


def test_training_selects_on_validation_carved_from_train_never_the_test_list(tmp_path: Path) -> None:
    table = read_dataset(write_spbl(tmp_path, {"0": 10, "1": 10}, {"0": 4, "1": 4}))
    data = training_data(table, 0.2, seed=0)
    test_paths = {record.path for record in table.subset("test").records}
    assert len(data.val) == 4 and not test_paths & {record.path for record in [*data.train.records, *data.val.records]}
    assert "held out" in data.val_source


def test_class_names_index_labels_and_paths_may_start_with_images(tmp_path: Path) -> None:
    root = write_spbl(tmp_path, {"0": 2, "1": 2}, {"1": 1}, prefix="images/")
    table = read_dataset(root, class_names=["acne", "eczema"])
    assert table.class_names == ["acne", "eczema"] and table.class_counts() == [2, 3]
    assert all(record.path.is_file() for record in table.records)


def test_generic_train_val_test_lists_stay_list_files(tmp_path: Path) -> None:
    raw = write_spbl(tmp_path, {"0": 2, "1": 2}, {"0": 1, "1": 1}) / "raw"
    (raw / "test.txt").write_text((raw / "val.txt").read_text())
    assert detect_format(tmp_path).name != "spbl"
    assert detect_format(raw).name == "list_files"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("0/000.jpg", r"val\.txt line 2: expected 'relative/path label' with an integer class index, got '0/000.jpg'"),
        ("0/000.jpg zero", r"val\.txt line 2: expected 'relative/path label' with an integer class index"),
        ("0/missing.jpg 0", r"line 2 of val\.txt: file not found: .*missing\.jpg"),
    ],
)
def test_bad_lines_are_one_line_errors_naming_the_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    root = write_spbl(tmp_path, {"0": 2, "1": 2}, {"0": 1})
    with (root / "raw" / "val.txt").open("a") as handle:
        handle.write(line + "\n")
    with pytest.raises(DataError, match=match) as caught:
        read_dataset(root)
    assert "\n" not in str(caught.value)


def test_a_class_only_in_the_test_list_has_no_training_image(tmp_path: Path) -> None:
    table = read_dataset(write_spbl(tmp_path, {"0": 4, "1": 4}, {"0": 1, "2": 1}))
    with pytest.raises(DataError, match="class '2' has no training images; add images or remove the class"):
        training_data(table, 0.25, seed=0)
