"""The D-KD protocol on ISIC 2019 (data.fold=1..5): a fixed 10 % test hold-out, five stratified folds of the rest,
lesions never split, UNK kept out and said so."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from dermkit.data import read_dataset
from dermkit.engine.setup import training_data
from dermkit.errors import DataError

CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
PER_CLASS = {"MEL": 40, "NV": 90, "BCC": 30, "AK": 15, "BKL": 25, "DF": 10, "VASC": 10, "SCC": 10}


@pytest.fixture(scope="module")
def isic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """230 ISIC 2019 rows (and 2 UNK rows), lesions of 1-3 images, lesion_id in the metadata CSV for most."""
    root = tmp_path_factory.mktemp("isic2019")
    (root / "ISIC_2019_Training_Input").mkdir()
    truth, meta, n = ["image," + ",".join(CLASSES)], ["image,age_approx,anatom_site_general,lesion_id,sex"], 0
    for label, count in [*PER_CLASS.items(), ("UNK", 2)]:
        for i in range(count):
            image = f"ISIC_{n:07d}"
            truth.append(f"{image}," + ",".join("1.0" if name == label else "0.0" for name in CLASSES))
            lesion = f"{label}_{i // 3}" if i % 5 else ""  # most images share a lesion with up to two others
            meta.append(f"{image},50.0,back,{lesion},female")
            (root / "ISIC_2019_Training_Input" / f"{image}.jpg").write_bytes(b"")  # never decoded here
            n += 1
    (root / "ISIC_2019_Training_GroundTruth.csv").write_text("\n".join(truth) + "\n")
    (root / "ISIC_2019_Training_Metadata.csv").write_text("\n".join(meta) + "\n")
    return root / "ISIC_2019_Training_GroundTruth.csv"


def read(path: Path, fold: int):
    with pytest.warns(UserWarning, match="skipped 2 rows"):
        return read_dataset(path, fold=fold)


def test_five_folds_share_one_test_hold_out_and_each_image_validates_once(isic: Path) -> None:
    tables = {fold: read(isic, fold) for fold in range(1, 6)}
    total = sum(PER_CLASS.values())
    test = {fold: {r.path for r in t.records if r.split == "test"} for fold, t in tables.items()}
    assert all(test[fold] == test[1] for fold in test)  # the hold-out does not depend on the fold
    assert abs(len(test[1]) - 0.1 * total) <= 4
    first = tables[1]
    test_classes = Counter(first.class_names[r.label] for r in first.records if r.split == "test")
    assert set(test_classes) == set(PER_CLASS)  # stratified: even DF, VASC and SCC (10 images) are tested
    vals = [{r.path for r in t.records if r.split == "val"} for t in tables.values()]
    rest = {r.path for r in first.records} - test[1]
    assert set().union(*vals) == rest and sum(map(len, vals)) == len(rest)  # disjoint folds covering the rest
    assert all(abs(len(val) - len(rest) / 5) <= 5 for val in vals)
    for table in tables.values():
        sides: dict[str, set[str]] = {}
        for record in table.records:
            if record.group:
                sides.setdefault(record.group, set()).add(record.split)
        assert all(len(found) == 1 for found in sides.values())  # a lesion never straddles two splits


def test_the_protocol_is_the_same_on_every_read_and_trains_on_its_val_split(isic: Path) -> None:
    first, again = read(isic, 2), read(isic, 2)
    assert [r.split for r in first.records] == [r.split for r in again.records]
    data = training_data(first, 0.1, seed=0)
    assert data.val_source == "the dataset's val split"
    assert {r.split for r in data.train.records} == {"train"} and {r.split for r in data.val.records} == {"val"}
    assert first.class_names == ["AK", "BCC", "BKL", "DF", "MEL", "NV", "SCC", "VASC"]


def test_fold_0_reads_without_splits_and_another_fold_is_one_line(isic: Path) -> None:
    assert {r.split for r in read(isic, 0).records} == {None}
    with pytest.raises(DataError, match=r"data.fold=6: the ISIC 2019 protocol has folds 1..5 \(0: no splits\)") as err:
        read(isic, 6)
    assert "\n" not in str(err.value)


def test_unk_is_kept_out_of_training_with_a_log_line(isic: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dermkit"):
        table = read(isic, 2)
    assert "UNK is not a training class; 2 UNK rows kept out" in caplog.text
    assert "D-KD protocol, fold 2 validating: train" in caplog.text
    assert len(table) == sum(PER_CLASS.values()) and "UNK" not in table.class_names
