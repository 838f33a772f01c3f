"""Tests for dermkit.data.split_manifests (``dermkit split``)."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from dermkit.data import read_dataset
from dermkit.data.records import ImageTable, Record
from dermkit.data.split_manifests import split_dataset
from dermkit.errors import DataError
from tests.unit._manifest_helpers import _image


def _class_folders(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        for i in range(count):
            _image(root / name / f"{name}_{i:03d}.png")
    return root


def _patient_manifest(root: Path, patients: int = 24, per_patient: int = 3) -> Path:
    """``manifest.csv`` of ``patients`` patients with ``per_patient`` images each, two classes, plus a site column."""
    rows = ["path,label,patient_id,site"]
    for p in range(patients):
        label = "mel" if p % 3 == 0 else "nv"
        for i in range(per_patient):
            _image(root / "img" / f"p{p:02d}_{i}.png")
            rows.append(f"img/p{p:02d}_{i}.png,{label},P{p:02d},{'arm' if i else 'back'}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _split_of(table: ImageTable) -> dict[Path, set[str]]:
    seen: dict[Path, set[str]] = defaultdict(set)
    for record in table.records:
        seen[record.path.resolve()].add(record.split)  # type: ignore[arg-type]
    return seen


def test_split_writes_three_stratified_manifests(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"bcc": 10, "mel": 20, "nv": 40}))
    report = split_dataset(table, tmp_path / "lists", val=0.1, test=0.2, seed=0)
    assert set(report.files) == {"train", "val", "test"}
    assert all(path == tmp_path / "lists" / f"{name}.csv" and path.is_file() for name, path in report.files.items())
    assert report.class_names == ["bcc", "mel", "nv"]
    assert report.counts == {"train": [7, 14, 28], "val": [1, 2, 4], "test": [2, 4, 8]}
    assert report.duplicates == []
    assert report.groups is None
    assert sum(len(_rows(path)) for path in report.files.values()) == 70
    assert _rows(report.files["val"])[0].keys() == {"path", "label", "split"}


def test_split_manifests_read_back_to_the_same_images_labels_and_splits(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"benign": 12, "malignant": 8}))
    report = split_dataset(table, tmp_path / "out" / "lists", val=0.2, test=0.2, seed=3)
    back = read_dataset(tmp_path / "out" / "lists")
    assert back.class_names == table.class_names
    original = {record.path.resolve(): record.label for record in table.records}
    assert {record.path.resolve(): record.label for record in back.records} == original
    assert all(len(splits) == 1 for splits in _split_of(back).values())
    for split, counts in report.counts.items():
        assert back.subset(split).class_counts() == counts


def test_split_round_trip_keeps_labels_of_integer_class_folders(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"2": 5, "10": 5}))
    assert table.class_names == ["2", "10"]
    split_dataset(table, tmp_path / "lists", val=0.2, test=0.2)
    back = read_dataset(tmp_path / "lists")
    assert back.class_names == ["2", "10"]
    assert {r.path.resolve(): r.label for r in back.records} == {r.path.resolve(): r.label for r in table.records}


def test_split_paths_are_relative_to_the_output_folder(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"a": 4, "b": 4}))
    report = split_dataset(table, tmp_path / "lists", val=0.25, test=0.25)
    for row in _rows(report.files["train"]):
        assert not Path(row["path"]).is_absolute()
        assert row["path"].startswith("../data/")
        assert row["split"] == "train"
        assert row["label"] in ("a", "b")


def test_split_is_reproducible_and_depends_on_the_seed(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"a": 15, "b": 15}))
    first = split_dataset(table, tmp_path / "one", val=0.2, test=0.2, seed=7)
    again = split_dataset(table, tmp_path / "two", val=0.2, test=0.2, seed=7)
    other = split_dataset(table, tmp_path / "three", val=0.2, test=0.2, seed=8)
    texts = {name: path.read_bytes() for name, path in first.files.items()}
    assert {name: path.read_bytes() for name, path in again.files.items()} == texts
    assert {name: path.read_bytes() for name, path in other.files.items()} != texts


def test_split_by_patient_keeps_every_patient_in_one_split(tmp_path: Path) -> None:
    table = read_dataset(_patient_manifest(tmp_path))
    report = split_dataset(table, tmp_path / "lists", val=0.15, test=0.25, seed=0, group_by="patient_id")
    assert report.groups == 24
    back = read_dataset(tmp_path / "lists")
    splits_of_patient: dict[str, set[str]] = defaultdict(set)
    for record in back.records:
        splits_of_patient[record.group].add(record.split)  # type: ignore[index, arg-type]
    assert len(splits_of_patient) == 24
    assert all(len(splits) == 1 for splits in splits_of_patient.values())
    assert set(back.splits) == {"train", "val", "test"}


def test_split_keeps_metadata_columns(tmp_path: Path) -> None:
    table = read_dataset(_patient_manifest(tmp_path, patients=6))
    report = split_dataset(table, tmp_path / "lists", val=0.2, test=0.2, group_by="patient_id")
    header = next(csv.reader(report.files["train"].open(encoding="utf-8")))
    assert header == ["path", "label", "split", "patient_id", "site"]
    back = read_dataset(tmp_path / "lists")
    assert {r.path.name: r.meta["site"] for r in back.records} == {r.path.name: r.meta["site"] for r in table.records}


def test_split_group_by_unknown_column_lists_the_columns(tmp_path: Path) -> None:
    table = read_dataset(_patient_manifest(tmp_path, patients=3))
    with pytest.raises(DataError, match="no column 'lesion_id'; columns: patient_id, site"):
        split_dataset(table, tmp_path / "lists", group_by="lesion_id")


def test_split_group_by_on_folders_without_columns_raises(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"a": 2}))
    with pytest.raises(DataError, match="columns: none"):
        split_dataset(table, tmp_path / "lists", group_by="patient_id")


def test_byte_identical_files_land_in_the_same_split(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"a": 12, "b": 12})
    original = root / "a" / "a_000.png"
    copies = [root / "a" / "copy_1.png", root / "b" / "copy_2.png", root / "b" / "copy_3.png"]
    for copy in copies:
        shutil.copyfile(original, copy)
    table = read_dataset(root)
    report = split_dataset(table, tmp_path / "lists", val=0.3, test=0.3, seed=1)
    assert report.duplicates == [sorted([original, *copies])]
    back = read_dataset(tmp_path / "lists")
    splits = _split_of(back)
    assert len({split for path in [original, *copies] for split in splits[path.resolve()]}) == 1


def test_a_file_listed_many_times_lands_in_one_split(tmp_path: Path) -> None:
    for i in range(10):
        _image(tmp_path / f"i{i}.png")
    rows = [f"i{i}.png,a" for i in range(10)] + ["i0.png,a"] * 10
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    split_dataset(read_dataset(tmp_path / "m.csv"), tmp_path / "lists", val=0.25, test=0.25)
    back = read_dataset(tmp_path / "lists")
    assert len(back) == 20
    assert len(_split_of(back)[(tmp_path / "i0.png").resolve()]) == 1


def test_split_with_no_validation_writes_no_val_manifest(tmp_path: Path) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"a": 5, "b": 5}))
    report = split_dataset(table, tmp_path / "lists", val=0.0, test=0.2)
    assert set(report.files) == {"train", "test"}
    assert not (tmp_path / "lists" / "val.csv").exists()
    assert report.counts["val"] == [0, 0]
    assert read_dataset(tmp_path / "lists").splits == ["train", "test"]


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.5), (-0.1, 0.1), (0.1, 1.0), (float("nan"), 0.1)])
def test_split_rejects_fractions_leaving_no_training_images(tmp_path: Path, val: float, test: float) -> None:
    table = read_dataset(_class_folders(tmp_path / "data", {"a": 2}))
    with pytest.raises(DataError, match="must be in"):
        split_dataset(table, tmp_path / "lists", val=val, test=test)
    assert not (tmp_path / "lists").exists()


def test_split_of_unlabelled_images_raises(tmp_path: Path) -> None:
    table = ImageTable([Record(_image(tmp_path / "a.png"))], [], source="m.csv")
    with pytest.raises(DataError, match="have no label"):
        split_dataset(table, tmp_path / "lists")


def test_existing_splits_are_ignored_and_redone(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _class_folders(root / "train", {"a": 10, "b": 10})
    _class_folders(root / "test", {"a": 10, "b": 10})
    report = split_dataset(read_dataset(root), tmp_path / "lists", val=0.1, test=0.1)
    assert report.counts == {"train": [16, 16], "val": [2, 2], "test": [2, 2]}


def test_split_without_val_removes_a_stale_val_manifest(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", {"a": 10, "b": 10})
    out = tmp_path / "lists"
    split_dataset(read_dataset(root), out, val=0.2, test=0.2)
    assert (out / "val.csv").is_file()
    report = split_dataset(read_dataset(root), out, val=0.0, test=0.2)
    assert not (out / "val.csv").exists() and "val" not in report.files
    assert read_dataset(out).splits == ["train", "test"]


def test_split_keeps_known_patient_ids_together_without_group_by(tmp_path: Path) -> None:
    table = read_dataset(_patient_manifest(tmp_path))
    assert all(record.group for record in table.records)  # the reader recognised patient_id
    report = split_dataset(table, tmp_path / "lists", val=0.2, test=0.2, seed=3)
    assert report.groups == 24
    splits_of_patient: dict[str, set[str]] = defaultdict(set)
    for split in ("train", "val", "test"):
        for row in _rows(tmp_path / "lists" / f"{split}.csv"):
            splits_of_patient[row["patient_id"]].add(split)
    assert len(splits_of_patient) == 24 and all(len(s) == 1 for s in splits_of_patient.values())
