"""Tests for the public-dataset readers: MedMNIST .npz (PNG cache), HAM10000, ISIC 2019 and ISIC 2020."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dermkit.data.public.isic_ham  # noqa: F401  (registers medmnist, ham10000, isic)
from dermkit.data import ImageTable, detect_format, read_dataset
from dermkit.data.public.medmnist import DERMAMNIST_CLASSES, MARKER
from dermkit.data.splits import stratified_group_split
from dermkit.errors import DataError

_COLOURS = itertools.count(1)
SPLIT_SIZES = {"train": 5, "val": 2, "test": 3}


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    index = next(_COLOURS)
    Image.new("RGB", (8, 8), (index % 256, index // 256 % 256, 99)).save(path, format="JPEG")
    return path


def _npz(path: Path, *, grey: bool = False, classes: int = 7, seed: int = 0, label_columns: int = 1) -> dict:
    """A fake MedMNIST file with 5/2/3 images of 28 px; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in SPLIT_SIZES.items():
        shape = (n, 28, 28) if grey else (n, 28, 28, 3)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, classes, (n, label_columns), dtype=np.int64)
    arrays["train_labels"][0, 0] = classes - 1  # every file names its highest class
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def _assert_matches(table: ImageTable, arrays: dict) -> None:
    for split, n in SPLIT_SIZES.items():
        records = [r for r in table.records if r.split == split]
        assert len(records) == n
        for index, record in enumerate(records):
            assert record.path.name == f"{index:05d}.png"
            assert record.path.parent.name == split
            np.testing.assert_array_equal(_pixels(record.path), arrays[f"{split}_images"][index])
            assert record.label == arrays[f"{split}_labels"][index, 0]


# --- MedMNIST ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grey", [False, True])
def test_medmnist_pngs_equal_the_arrays_with_splits_labels_and_ham_codes(tmp_path: Path, grey: bool) -> None:
    npz = tmp_path / "dermamnist.npz"
    arrays = _npz(npz, grey=grey)
    table = read_dataset(npz)
    assert table.format == "medmnist"
    assert table.class_names == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert table.splits == ["train", "val", "test"]
    assert all(r.path.parent.parent == tmp_path / "dermamnist_png" for r in table.records)
    _assert_matches(table, arrays)
    assert (tmp_path / "dermamnist_png" / MARKER).is_file()


def test_medmnist_second_read_reuses_the_cache(tmp_path: Path) -> None:
    npz = tmp_path / "dermamnist.npz"
    _npz(npz)
    first = read_dataset(npz)
    for record in first.records:
        os.utime(record.path, ns=(1_000_000_000, 1_000_000_000))
    second = read_dataset(npz)
    assert [r.path for r in second.records] == [r.path for r in first.records]
    assert all(r.path.stat().st_mtime_ns == 1_000_000_000 for r in second.records)


def test_medmnist_partial_or_stale_cache_is_extracted_again(tmp_path: Path) -> None:
    npz = tmp_path / "dermamnist.npz"
    arrays = _npz(npz)
    table = read_dataset(npz)
    cache = tmp_path / "dermamnist_png"
    (cache / MARKER).unlink()  # an interrupted extraction: no marker, a broken and a missing file
    table.records[0].path.write_bytes(b"half a png")
    table.records[-1].path.unlink()
    _assert_matches(read_dataset(npz), arrays)
    assert (cache / MARKER).is_file()
    newer = _npz(npz, seed=1)  # a new version of the file replaces the old cache
    _assert_matches(read_dataset(npz), newer)


def test_medmnist_unwritable_folder_falls_back_to_the_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    npz = tmp_path / "data" / "dermamnist.npz"
    arrays = _npz(npz)
    (tmp_path / "data" / "dermamnist_png").write_text("a file where the cache folder would go")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    table = read_dataset(npz)
    cache = table.records[0].path.parent.parent
    assert cache.parent == tmp_path / "home" / ".cache" / "dermkit" / "medmnist"
    assert cache.name.startswith("dermamnist_")
    _assert_matches(table, arrays)


def test_medmnist_other_sets_get_numeric_names_and_class_names_override(tmp_path: Path) -> None:
    npz = tmp_path / "bloodmnist.npz"
    _npz(npz, classes=8)
    assert read_dataset(npz).class_names == [str(i) for i in range(8)]
    names = [f"c{i}" for i in range(8)]
    assert read_dataset(npz, class_names=names).class_names == names
    with pytest.raises(DataError, match="labels go up to 7"):
        read_dataset(npz, class_names=["a", "b"])


def test_medmnist_reordered_default_names_move_the_labels(tmp_path: Path) -> None:
    npz = tmp_path / "dermamnist.npz"
    arrays = _npz(npz)
    reordered = list(reversed(DERMAMNIST_CLASSES))
    table = read_dataset(npz, class_names=reordered)
    expected = [DERMAMNIST_CLASSES[int(v)] for v in arrays["train_labels"][:, 0]]
    assert [table.class_names[r.label] for r in table.subset("train").records] == expected


def test_medmnist_multi_label_sets_are_refused(tmp_path: Path) -> None:
    npz = tmp_path / "chestmnist.npz"
    _npz(npz, grey=True, classes=2, label_columns=14)
    with pytest.raises(DataError, match="multi-label, not supported") as exc:
        read_dataset(npz)
    assert "chestmnist.npz" in str(exc.value)


# --- builders for the CSV datasets ----------------------------------------------------------------------------------

HAM_HEADER = "lesion_id,image_id,dx,dx_type,age,sex,localization,dataset\n"


def _ham(root: Path, rows: list[tuple[str, str, str]], *, skip_image: str | None = None) -> Path:
    """HAM10000_metadata.csv with (lesion_id, image_id, dx) rows; images alternate between part_1 and part_2."""
    lines = [HAM_HEADER]
    for i, (lesion, image, dx) in enumerate(rows):
        lines.append(f"{lesion},{image},{dx},histo,{40 + i}.0,{'male' if i % 2 else 'female'},back,vidir_modern\n")
        if image != skip_image:
            _image(root / f"HAM10000_images_part_{1 + i % 2}" / f"{image}.jpg")
    csv_path = root / "HAM10000_metadata.csv"
    csv_path.write_text("".join(lines))
    return csv_path


ISIC2019_HEADER = "image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\n"
ONE_HOT = {"MEL": 0, "NV": 1, "BCC": 2, "AK": 3, "BKL": 4, "DF": 5, "VASC": 6, "SCC": 7, "UNK": 8}


def _isic2019(root: Path, rows: list[tuple[str, list[str]]]) -> Path:
    """The 2019 ground truth with (image, positive columns) rows and its images in ISIC_2019_Training_Input/."""
    lines = [ISIC2019_HEADER]
    for image, positives in rows:
        values = ["1.0" if name in positives else "0.0" for name in ONE_HOT]
        lines.append(f"{image},{','.join(values)}\n")
        _image(root / "ISIC_2019_Training_Input" / f"{image}.jpg")
    path = root / "ISIC_2019_Training_GroundTruth.csv"
    path.write_text("".join(lines))
    return path


def _isic2020(root: Path) -> Path:
    path = root / "ISIC_2020_Training_GroundTruth.csv"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "image_name,patient_id,lesion_id,sex,age_approx,anatom_site_general_challenge,diagnosis,benign_malignant,target\n"
        "ISIC_2637011,IP_7279968,IL_7972535,male,45.0,head/neck,unknown,benign,0\n"
        "ISIC_0015719,IP_3075186,IL_4649854,female,45.0,upper extremity,unknown,benign,0\n"
        "ISIC_0052212,IP_7279968,IL_9087444,male,50.0,lower extremity,melanoma,malignant,1\n"
    )
    for name in ("ISIC_2637011", "ISIC_0015719", "ISIC_0052212"):
        _image(root / "train" / f"{name}.jpg")
    return path


# --- detection ----------------------------------------------------------------------------------------------------


def test_auto_detection_picks_each_public_format_and_leaves_generic_manifests_alone(tmp_path: Path) -> None:
    npz = tmp_path / "m" / "dermamnist.npz"
    _npz(npz)
    ham = _ham(tmp_path / "ham", [("HAM_0000001", "ISIC_0000001", "nv"), ("HAM_0000002", "ISIC_0000002", "mel")])
    isic19 = _isic2019(tmp_path / "i19", [("ISIC_0000000", ["NV"])])
    isic20 = _isic2020(tmp_path / "i20")
    generic = tmp_path / "generic" / "manifest.csv"
    _image(generic.parent / "a.jpg")
    generic.write_text("path,label\na.jpg,nevus\n")
    own = tmp_path / "ham" / "my_manifest.csv"  # HAM columns plus a path column: the user's own manifest
    own.write_text("path,lesion_id,image_id,dx\nHAM10000_images_part_1/ISIC_0000001.jpg,HAM_0000001,ISIC_0000001,nv\n")
    other_npz = tmp_path / "other.npz"
    np.savez(other_npz, weights=np.zeros(3))

    assert detect_format(npz).name == "medmnist"
    assert detect_format(ham).name == "ham10000"
    assert detect_format(ham.parent).name == "ham10000"  # the folder holding HAM10000_metadata.csv
    assert detect_format(isic19).name == "isic"
    assert detect_format(isic19.parent).name == "isic"
    assert detect_format(isic20).name == "isic"
    assert detect_format(generic).name == "csv_manifest"
    assert detect_format(own).name == "csv_manifest"
    assert read_dataset(own).format == "csv_manifest"
    with pytest.raises(DataError, match="no dataset layout recognised"):
        detect_format(other_npz)


# --- HAM10000 -----------------------------------------------------------------------------------------------------


def test_ham10000_reads_labels_lesion_groups_and_metadata_from_both_parts(tmp_path: Path) -> None:
    csv_path = _ham(
        tmp_path,
        [("HAM_1", "ISIC_0000001", "nv"), ("HAM_1", "ISIC_0000002", "nv"), ("HAM_2", "ISIC_0000003", "mel")],
    )
    table = read_dataset(tmp_path)
    assert table.format == "ham10000" and table.source == str(csv_path)
    assert table.class_names == ["mel", "nv"]
    assert [r.label for r in table.records] == [1, 1, 0]
    assert [r.group for r in table.records] == ["HAM_1", "HAM_1", "HAM_2"]
    assert [r.path.parent.name for r in table.records] == [
        "HAM10000_images_part_1", "HAM10000_images_part_2", "HAM10000_images_part_1"]  # fmt: skip
    assert all(r.path.is_file() and r.split is None for r in table.records)
    meta = table.records[1].meta
    assert (meta["age"], meta["sex"], meta["localization"], meta["lesion_id"]) == ("41.0", "male", "back", "HAM_1")
    assert "dx" not in meta


def test_ham10000_lesions_never_straddle_splits(tmp_path: Path) -> None:
    rows = []
    for lesion in range(24):
        dx = ("nv", "mel", "bkl")[lesion % 3]
        rows += [(f"HAM_{lesion:07d}", f"ISIC_{lesion:05d}{k:02d}", dx) for k in range(1 + lesion % 3)]
    table = read_dataset(_ham(tmp_path, rows))
    splits = stratified_group_split(
        table.labels(), {"train": 0.6, "val": 0.2, "test": 0.2}, groups=[r.group for r in table.records], seed=3
    )
    by_lesion: dict[str, set[str]] = {}
    for record, split in zip(table.records, splits, strict=True):
        by_lesion.setdefault(record.group, set()).add(split)
    assert len(by_lesion) == 24
    assert all(len(found) == 1 for found in by_lesion.values())
    assert set(splits) == {"train", "val", "test"}


def test_ham10000_missing_image_names_line_and_file(tmp_path: Path) -> None:
    rows = [("HAM_1", "ISIC_0000001", "nv"), ("HAM_2", "ISIC_0000002", "mel")]
    _ham(tmp_path, rows, skip_image="ISIC_0000002")
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "HAM10000_metadata.csv")
    message = str(exc.value)
    assert "line 3" in message and "ISIC_0000002" in message and "HAM10000_metadata.csv" in message
    assert "\n" not in message


# --- ISIC 2019 / 2020 ------------------------------------------------------------------------------------------------


def test_isic2019_one_hot_alphabetical_classes_skipped_rows_and_metadata(tmp_path: Path) -> None:
    rows = [("ISIC_0000000", ["NV"]), ("ISIC_0000001", ["MEL"]), ("ISIC_0000002", []), ("ISIC_0000003", ["SCC"]),
            ("ISIC_0000004", ["UNK"]), ("ISIC_0000005", ["AK"])]  # fmt: skip
    gt = _isic2019(tmp_path, rows)
    (tmp_path / "ISIC_2019_Training_Metadata.csv").write_text(
        "image,age_approx,anatom_site_general,lesion_id,sex\n"
        "ISIC_0000000,55.0,anterior torso,BCN_0001,female\n"
        "ISIC_0000001,30.0,,,male\n"
    )
    with pytest.warns(UserWarning, match="skipped 2 rows"):
        table = read_dataset(gt)
    assert table.format == "isic"
    assert table.class_names == ["AK", "BCC", "BKL", "DF", "MEL", "NV", "SCC", "VASC"]
    assert [r.path.stem for r in table.records] == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000003", "ISIC_0000005"]
    assert [table.class_names[r.label] for r in table.records] == ["NV", "MEL", "SCC", "AK"]
    assert all(r.path.parent.name == "ISIC_2019_Training_Input" for r in table.records)
    assert table.records[0].meta["anatom_site_general"] == "anterior torso"
    assert table.records[0].meta["sex"] == "female"
    assert [r.group for r in table.records] == ["BCN_0001", None, None, None]


def test_isic2019_two_positive_classes_is_an_error_naming_the_line(tmp_path: Path) -> None:
    gt = _isic2019(tmp_path, [("ISIC_0000000", ["NV"]), ("ISIC_0000001", ["MEL", "NV"])])
    with pytest.raises(DataError, match=r"line 3: image ISIC_0000001 has more than one positive class \(MEL, NV\)"):
        read_dataset(gt)


def test_isic2020_benign_malignant_labels_and_patient_groups(tmp_path: Path) -> None:
    table = read_dataset(_isic2020(tmp_path))
    assert table.format == "isic"
    assert table.class_names == ["benign", "malignant"]
    assert [r.label for r in table.records] == [0, 0, 1]
    assert [r.group for r in table.records] == ["IP_7279968", "IP_3075186", "IP_7279968"]
    assert table.records[2].meta["diagnosis"] == "melanoma"
    assert "benign_malignant" not in table.records[2].meta
    assert all(r.path.parent.name == "train" and r.path.is_file() for r in table.records)


def test_isic_missing_image_names_the_file(tmp_path: Path) -> None:
    gt = _isic2020(tmp_path)
    (tmp_path / "train" / "ISIC_0015719.jpg").unlink()
    with pytest.raises(DataError, match=r"line 3: image file ISIC_0015719 not found .*\(1 of 3 images missing\)"):
        read_dataset(gt)
    assert len(read_dataset(gt, check_files=False)) == 3


def test_medmnist_unreadable_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "dermamnist.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"dermamnist.npz: not a readable MedMNIST .npz file"):
        read_dataset(bad, format="medmnist")
