"""Acne data: the ACNE04 reader (folds, messy lines), CSV manifests with lesion counts, and the count checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dermkit.cli import main
from dermkit.config import load, reader_options
from dermkit.data import read_dataset
from dermkit.data.acne import GRADE_NAMES, check_acne_counts, grade_from_count
from dermkit.data.acne04 import acne04_fold_files
from dermkit.data.duplicates import leak_free_groups
from dermkit.data.split_manifests import split_dataset
from dermkit.data.splits import kfold_assign
from dermkit.errors import DataError
from tests.unit._manifest_helpers import _images, _one_line

#: fold -> (trainval lines, test lines) of a tiny ACNE04 copy; grades agree with the counts (Hayashi criterion).
FOLDS = {
    0: (["a.png 0 3", "b.png 1 12", "c.png 2 30", "d.png 3 55"], ["e.png 0 1", "f.png 3 70"]),
    1: (["c.png 2 30", "d.png 3 55", "e.png 0 1", "f.png 3 70"], ["a.png 0 3", "b.png 1 12"]),
}


def _acne04(root: Path, folds: dict[int, tuple[list[str], list[str]]] = FOLDS, lists: str = "ImageSets/Main") -> Path:
    """An ACNE04-like folder: PNGs in JPEGImages/, NNEW_trainval_k.txt / NNEW_test_k.txt in ``lists``."""
    _images(root / "JPEGImages", [f"{name}.png" for name in "abcdef"])
    folder = root / lists
    folder.mkdir(parents=True, exist_ok=True)
    for k, (trainval, test) in folds.items():
        (folder / f"NNEW_trainval_{k}.txt").write_text("\n".join(trainval) + "\n")
        (folder / f"NNEW_test_{k}.txt").write_text("\n".join(test) + "\n")
    return root


def _rows(table) -> list[tuple[str, int | None, int | None, str | None]]:
    return [(r.path.name, r.label, r.count, r.split) for r in table.records]


def test_reads_fold_zero_by_default_with_grades_counts_and_splits(tmp_path) -> None:
    root = _acne04(tmp_path)
    table = read_dataset(root)  # detected, not named
    assert table.format == "acne04" and table.class_names == list(GRADE_NAMES)
    train = [("a.png", 0, 3, "train"), ("b.png", 1, 12, "train"), ("c.png", 2, 30, "train"), ("d.png", 3, 55, "train")]
    assert _rows(table) == [*train, ("e.png", 0, 1, "test"), ("f.png", 3, 70, "test")]
    assert all(r.path == root / "JPEGImages" / r.path.name for r in table.records)
    assert table.records[5].origin == f"{root / 'ImageSets/Main/NNEW_test_0.txt'} line 2"


def test_fold_option_reaches_the_reader_from_overrides_and_config(tmp_path) -> None:
    from dermkit.engine.setup import read_config_data

    root = _acne04(tmp_path)
    expected = [("a.png", "test"), ("b.png", "test"), ("c.png", "train")]
    from_cli = read_dataset(root, **reader_options(None, ["data.fold=1"]))
    from_config = read_config_data(load(None, [f"data.root={root}", "data.fold=1"]))
    for table in (from_cli, from_config):
        assert sorted((r.path.name, r.split) for r in table.records)[:3] == expected
    with pytest.raises(DataError, match=r"no ACNE04 fold 3 \(data.fold\); folds found: 0, 1"):
        read_dataset(root, fold=3)


def test_fold_files_list_each_published_fold(tmp_path) -> None:
    root = _acne04(tmp_path)
    main_dir = root / "ImageSets" / "Main"
    assert acne04_fold_files(root) == [
        (0, main_dir / "NNEW_trainval_0.txt", main_dir / "NNEW_test_0.txt"),
        (1, main_dir / "NNEW_trainval_1.txt", main_dir / "NNEW_test_1.txt"),
    ]
    (main_dir / "NNEW_test_1.txt").unlink()
    with pytest.raises(DataError, match=r"NNEW_trainval_1.txt: fold 1 has no test list NNEW_test_1.txt"):
        acne04_fold_files(root)
    with pytest.raises(DataError, match="no ACNE04 fold lists"):
        acne04_fold_files(tmp_path / "JPEGImages")


def test_lists_beside_the_images_folder_and_images_dir_option(tmp_path) -> None:
    root = _acne04(tmp_path / "flat", lists=".")
    assert [r.count for r in read_dataset(root).records] == [3, 12, 30, 55, 1, 70]
    (root / "JPEGImages").rename(root / "faces")
    table = read_dataset(root, images_dir="faces")
    assert all(r.path.parent == root / "faces" for r in table.records)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("f.png 3 -4", "lesion count '-4' is not a non-negative integer"),
        ("f.png 3 4.5", "lesion count '4.5' is not a non-negative integer"),
        ("f.png 3 many", "lesion count 'many' is not a non-negative integer"),
        ("f.png", "expected 'filename grade count' (3 whitespace-separated tokens), got 'f.png'"),
        ("f.png 3 70 extra", "expected 'filename grade count'"),
        ("f.png severe 70", "grade 'severe' is not an integer (0..3)"),
        ("f.png 4 70", "grade 4 is outside 0..3"),
        ("nothere.png 3 70", "file not found"),
    ],
)
def test_each_bad_line_is_one_error_naming_file_and_line(tmp_path, line: str, problem: str) -> None:
    root = _acne04(tmp_path, {0: (FOLDS[0][0], ["e.png 0 1", line])})
    with pytest.raises(DataError) as exc:
        read_dataset(root)
    message = _one_line(exc)
    assert message.startswith(f"{root / 'ImageSets/Main/NNEW_test_0.txt'} line 2: ")
    assert problem in message


def test_line_without_count_is_kept_and_warned_about_once(tmp_path) -> None:
    root = _acne04(tmp_path, {0: (["a.png 0", "b.png 1 12", "c.png 2"], ["e.png 0 1"])})
    table = read_dataset(root)
    assert [r.count for r in table.records] == [None, 12, None, 1]
    assert [r.label for r in table.records] == [0, 1, 2, 0]
    assert check_acne_counts(table) == [f"{root}: 2 of 4 images have no lesion count; only their grade is learned"]


def test_disagreeing_grades_are_kept_counted_once_and_strict_names_the_first(tmp_path) -> None:
    # a.png: grade mild, 30 lesions (severe); c.png: grade severe, 8 lesions (moderate); the rest agree
    root = _acne04(tmp_path, {0: (["b.png 1 12", "a.png 0 30", "c.png 2 8"], ["e.png 0 5", "f.png 1 6"])})
    table = read_dataset(root)
    assert [r.label for r in table.records] == [1, 0, 2, 0, 1]  # kept as given
    first = f"{root / 'ImageSets/Main/NNEW_trainval_0.txt'} line 2"
    (warning,) = check_acne_counts(table)
    assert "2 of 5 images have a grade that disagrees with their lesion count" in warning
    assert f"first: {first}: grade 'mild' given, but lesion count 30 means 'severe'" in warning
    with pytest.raises(DataError) as exc:
        check_acne_counts(table, strict=True)
    assert _one_line(exc).startswith(f"{first}: grade 'mild' given") and "2 such rows" in str(exc.value)


def test_counts_above_the_last_bin_are_one_clipping_warning(tmp_path) -> None:
    root = _acne04(tmp_path, {0: (["a.png 3 66", "b.png 3 65", "c.png 3 80"], ["e.png 0 1"])})
    table = read_dataset(root)
    assert check_acne_counts(table) == [
        f"{root}: 2 images have more than 65 lesions (up to 80), clipped into the last count bin"
    ]
    assert check_acne_counts(table, num_bins=80) == []
    assert check_acne_counts(read_dataset(_acne04(tmp_path / "clean")), num_bins=70) == []  # f.png has 70


def test_grade_from_count_follows_the_hayashi_boundaries() -> None:
    counts = [0, 5, 6, 20, 21, 50, 51, 65, 300]
    assert [grade_from_count(c) for c in counts] == [0, 0, 1, 1, 2, 2, 3, 3, 3]
    assert [grade_from_count(c, (2, 4)) for c in (2, 3, 4, 5)] == [0, 1, 1, 2]
    with pytest.raises(DataError, match="increase strictly"):
        grade_from_count(3, (5, 5, 50))
    with pytest.raises(DataError, match="lesion count must be >= 0"):
        grade_from_count(-1)


def test_check_refuses_boundaries_that_do_not_fit_the_grade_names(tmp_path) -> None:
    table = read_dataset(_acne04(tmp_path))
    with pytest.raises(DataError, match=r"2 grade boundaries give 3 grades, but the dataset has 4 grade names"):
        check_acne_counts(table, boundaries=(5, 20))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_manifest_reads_grade_and_count_columns(tmp_path) -> None:
    _images(tmp_path / "img", ["a.png", "b.png", "c.png"])
    csv_path = _write(
        tmp_path / "acne.csv",
        "path,grade,count,patient_id,split\nimg/a.png,mild,4,p1,train\nimg/b.png,3,,p2,test\nimg/c.png,1,9,p1,train\n",
    )
    table = read_dataset(csv_path)
    assert table.format == "csv_manifest" and table.class_names == list(GRADE_NAMES)
    assert _rows(table) == [("a.png", 0, 4, "train"), ("b.png", 3, None, "test"), ("c.png", 1, 9, "train")]
    assert [r.group for r in table.records] == ["p1", "p2", "p1"]
    assert check_acne_counts(table) == [f"{csv_path}: 1 of 3 images have no lesion count; only their grade is learned"]


def test_csv_count_column_by_alias_by_option_and_bad_cells(tmp_path) -> None:
    _images(tmp_path, ["a.png", "b.png"])
    alias = _write(tmp_path / "alias.csv", "filename,label,lesion_count\na.png,0,2\nb.png,2,44\n")
    assert [r.count for r in read_dataset(alias).records] == [2, 44]
    named = _write(tmp_path / "named.csv", "path,grade,n_spots\na.png,0,2\nb.png,2,44.0\n")
    assert [r.count for r in read_dataset(named).records] == [None, None]  # an unknown name is not guessed
    option = reader_options(None, ["data.count_column=n_spots"])
    assert [r.count for r in read_dataset(named, **option).records] == [2, 44]
    bad = _write(tmp_path / "bad.csv", "path,grade,count\na.png,0,2\nb.png,2,-1\n")
    with pytest.raises(DataError) as exc:
        read_dataset(bad)
    assert _one_line(exc) == f"{bad} line 3: lesion count '-1' is not a non-negative integer"
    classes = _write(tmp_path / "classes.csv", "path,label,count\na.png,benign,1\nb.png,malignant,3\n")
    assert read_dataset(classes).class_names == ["benign", "malignant"]  # not acne grades: names stay detected


def test_split_manifests_keep_the_counts(tmp_path) -> None:
    names = [f"{i}.png" for i in range(12)]
    _images(tmp_path / "img", names)
    rows = "".join(f"img/{name},{i % 4},{[2, 10, 30, 60][i % 4] + i},p{i}\n" for i, name in enumerate(names))
    rows = rows.replace("img/5.png,1,15,", "img/5.png,1,,")  # one row without a count
    table = read_dataset(_write(tmp_path / "all.csv", "path,grade,count,patient_id\n" + rows))
    split_dataset(table, tmp_path / "splits", val=0.25, test=0.25, seed=0)
    again = read_dataset(tmp_path / "splits")
    assert again.class_names == list(GRADE_NAMES)
    assert sorted((r.path.name, r.label, r.count) for r in again.records) == sorted(
        (r.path.name, r.label, r.count) for r in table.records
    )


def test_identical_acne04_images_share_a_fold_and_audit_reports_them(tmp_path, capsys) -> None:
    root = _acne04(tmp_path, {0: (["a.png 0 3", "b.png 1 12", "c.png 2 30", "d.png 3 55", "g.png 0 2"], ["e.png 0 1"])})
    shutil.copyfile(root / "JPEGImages" / "e.png", root / "JPEGImages" / "g.png")  # g (train) == e (test)
    table = read_dataset(root)
    paths = [r.path for r in table.records]
    groups, duplicates = leak_free_groups(paths, None)
    assert duplicates == [[root / "JPEGImages" / "e.png", root / "JPEGImages" / "g.png"]]
    e, g = paths.index(root / "JPEGImages" / "e.png"), paths.index(root / "JPEGImages" / "g.png")
    labels = table.labels()
    for seed in range(8):
        folds = kfold_assign(labels, 2, groups=groups, seed=seed)
        assert folds[e] == folds[g]
    # without the duplicate groups some seed separates the two copies, so the assertion above could fail
    assert any(kfold_assign(labels, 2, seed=seed)[e] != kfold_assign(labels, 2, seed=seed)[g] for seed in range(8))
    assert main(["audit", str(root), "--no-near"]) == 0
    out = capsys.readouterr().out
    assert "exact duplicates: 1 groups, 1 cross-split" in out and "LEAKAGE: 1 exact groups" in out
