"""dermkit.data.manifests CSV manifests (files and folders of split CSVs) and dermkit.data.inputs.collect_images."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermkit.data import read_dataset
from dermkit.data.inputs import collect_images
from dermkit.errors import DataError
from tests.unit._manifest_helpers import _image, _images, _one_line

# --- CSV manifests -------------------------------------------------------------------------------------------------


def test_csv_manifest_paths_are_relative_to_the_csv_with_group_split_and_meta(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _images(root / "imgs", ["a.png", "b.png", "c.png"])
    manifest = root / "meta" / "manifest.csv"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        "path,label,patient_id,split,sex\n"
        "../imgs/a.png,nevus,p1,train,f\n"
        "../imgs/b.png,melanoma,p1,Validation,f\n"
        "../imgs/c.png,nevus,p2,test,m\n"
    )
    table = read_dataset(manifest)
    assert table.format == "csv_manifest"
    assert table.class_names == ["melanoma", "nevus"]
    assert [r.path for r in table.records] == [root / "meta" / "../imgs" / n for n in ("a.png", "b.png", "c.png")]
    assert all(r.path.is_file() for r in table.records)
    assert [r.label for r in table.records] == [1, 0, 1]
    assert [r.split for r in table.records] == ["train", "val", "test"]
    assert [r.group for r in table.records] == ["p1", "p1", "p2"]
    assert table.records[2].meta == {"patient_id": "p2", "sex": "m"}
    assert table.class_counts() == [1, 2]


def test_skin_classifier_csv_with_unnamed_index_column_reads(tmp_path: Path) -> None:
    _images(tmp_path, ["ISIC_0000001.jpg", "ISIC_0000002.jpg", "ISIC_0000003.jpg"])
    (tmp_path / "train.csv").write_text(
        ",filename,label,split\n0,ISIC_0000001.jpg,0,train\n1,ISIC_0000002.jpg,1,train\n2,ISIC_0000003.jpg,1,val\n"
    )
    table = read_dataset(tmp_path / "train.csv")
    assert [r.path.name for r in table.records] == ["ISIC_0000001.jpg", "ISIC_0000002.jpg", "ISIC_0000003.jpg"]
    assert table.class_names == ["0", "1"]
    assert [r.label for r in table.records] == [0, 1, 1]
    assert [r.split for r in table.records] == ["train", "train", "val"]
    assert all("" not in r.meta for r in table.records)  # the index column is not metadata


def test_csv_columns_can_be_named_by_options_case_insensitively(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "m.csv").write_text("Img File,Finding,Fold,Subject\na.png,mel,train,s1\nb.png,nv,test,s2\n")
    table = read_dataset(
        tmp_path / "m.csv", path_column="img file", label_column="FINDING", split_column="Fold", group_column="Subject"
    )
    assert table.class_names == ["mel", "nv"]
    assert [r.split for r in table.records] == ["train", "test"]
    assert [r.group for r in table.records] == ["s1", "s2"]


def test_csv_option_naming_a_missing_column_lists_the_columns(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / "m.csv").write_text("path,label\na.png,x\n")
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "m.csv", label_column="diagnosis")
    message = _one_line(exc)
    assert message.startswith(f"{tmp_path / 'm.csv'}: no column 'diagnosis' for the label")
    assert "columns are: path, label" in message


def test_csv_without_a_path_column_raises_listing_columns(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("picture,label\na.png,x\n")
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "m.csv")
    message = _one_line(exc)
    assert "no image path column" in message
    assert "columns are: picture, label" in message


def test_csv_naming_a_missing_file_raises_with_line_and_count(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "m.csv").write_text("path,label\na.png,x\nlost.png,y\nb.png,y\ngone.png,x\n")
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "m.csv")
    message = _one_line(exc)
    assert message.startswith(f"{tmp_path / 'm.csv'} line 3: file not found:")
    assert "lost.png" in message
    assert "(2 of 4 files named are missing)" in message


def test_csv_error_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / "m.csv").write_text("path,label\na.png,x\n\n\nlost.png,y\n")
    with pytest.raises(DataError, match=r"m\.csv line 5: file not found"):
        read_dataset(tmp_path / "m.csv")


def test_csv_unknown_label_with_fixed_class_names_names_the_line(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "m.csv").write_text("path,label\na.png,benign\nb.png,melanoma\n")
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "m.csv", class_names=["benign", "malignant"])
    assert "m.csv line 3: unknown label 'melanoma'" in _one_line(exc)


def test_csv_integer_labels_are_ordered_numerically(tmp_path: Path) -> None:
    _images(tmp_path, [f"{k}.png" for k in range(11)])
    rows = "".join(f"{k}.png,{k}\n" for k in reversed(range(11)))
    (tmp_path / "m.csv").write_text("path,label\n" + rows)
    table = read_dataset(tmp_path / "m.csv")
    assert table.class_names == [str(k) for k in range(11)]
    assert all(table.class_names[r.label] == r.path.stem for r in table.records)


def test_csv_non_utf8_file_raises_naming_the_file(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / "m.csv").write_bytes("path,label\na.png,naevus\nb.png,l\u00e9sion\n".encode("latin-1"))
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path / "m.csv")
    assert _one_line(exc) == f"{tmp_path / 'm.csv'}: not a UTF-8 text CSV file"


def test_csv_empty_file_raises(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("")
    with pytest.raises(DataError, match=r"m\.csv: empty CSV"):
        read_dataset(tmp_path / "m.csv")


def test_csv_with_header_only_holds_no_images(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,label\n")
    with pytest.raises(DataError, match="holds no images"):
        read_dataset(tmp_path / "m.csv")


def test_csv_unknown_split_value_names_the_line(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "m.csv").write_text("path,label,split\na.png,x,train\nb.png,x,holdout\n")
    with pytest.raises(DataError, match=r"m\.csv line 3: unknown split 'holdout'"):
        read_dataset(tmp_path / "m.csv")


def test_csv_empty_path_cell_names_the_line(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / "m.csv").write_text("path,label\na.png,x\n ,y\n")
    with pytest.raises(DataError, match=r"m\.csv line 3: empty image path"):
        read_dataset(tmp_path / "m.csv")


def test_csv_with_bom_crlf_and_extensionless_paths_reads(tmp_path: Path) -> None:
    _image(tmp_path / "ISIC_1.jpg")
    (tmp_path / "m.csv").write_bytes("\ufeffimage_id,dx\r\nISIC_1,mel\r\n".encode())
    table = read_dataset(tmp_path / "m.csv")
    assert [r.path.name for r in table.records] == ["ISIC_1.jpg"]
    assert table.class_names == ["mel"]


def test_csv_check_files_off_keeps_missing_files(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,label\nlost.png,x\n")
    table = read_dataset(tmp_path / "m.csv", check_files=False)
    assert [r.path for r in table.records] == [tmp_path / "lost.png"]


def test_csv_folder_of_split_files_shares_one_class_index(tmp_path: Path) -> None:
    _images(tmp_path / "img", ["a.png", "b.png", "c.png", "d.png"])
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.csv").write_text("path,label,split\n../img/a.png,nv,test\n../img/b.png,nv,test\n")
    (lists / "val.csv").write_text("path,label\n../img/c.png,bcc\n")
    (lists / "test.csv").write_text("path,label\n../img/d.png,mel\n")
    (lists / "notes.csv").write_text("not,a,split\n")  # ignored: not a split name
    table = read_dataset(lists)
    assert table.format == "csv_manifest"
    assert table.class_names == ["bcc", "mel", "nv"]
    by_name = {r.path.name: (table.class_names[r.label], r.split) for r in table.records}
    assert by_name == {
        "a.png": ("nv", "train"),
        "b.png": ("nv", "train"),
        "c.png": ("bcc", "val"),
        "d.png": ("mel", "test"),
    }


def test_csv_folder_reports_missing_file_in_its_own_manifest(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / "train.csv").write_text("path,label\na.png,x\n")
    (tmp_path / "test.csv").write_text("path,label\nlost.png,x\n")
    with pytest.raises(DataError, match=r"test\.csv line 2: file not found"):
        read_dataset(tmp_path)


# --- collect_images ------------------------------------------------------------------------------------------------


def test_collect_images_keeps_the_given_order_of_files_folders_and_manifests(tmp_path: Path) -> None:
    single = _image(tmp_path / "single.png")
    folder = tmp_path / "folder"
    _images(folder, ["b.png", "a.png", "sub/c.jpg"])
    (folder / "notes.txt").write_text("x")
    _image(folder / ".hidden" / "d.png")
    _images(tmp_path / "m", ["x.png", "y.png"])
    (tmp_path / "m" / "list.CSV").write_text("path,label,site\ny.png,mel,back\nx.png,nv,arm\n")
    records = collect_images([folder, tmp_path / "m" / "list.CSV", str(single)])
    assert [r.path for r in records] == [
        folder / "a.png",
        folder / "b.png",
        folder / "sub" / "c.jpg",
        tmp_path / "m" / "y.png",
        tmp_path / "m" / "x.png",
        single,
    ]
    assert records[3].meta == {"label": "mel", "site": "back"}
    assert all(r.label is None and r.split is None for r in records)


def test_collect_images_ignores_manifest_split_values_it_does_not_need(tmp_path: Path) -> None:
    _images(tmp_path, ["x.png"])
    (tmp_path / "m.csv").write_text("path,label,set\nx.png,mel,holdout-2019\n")
    records = collect_images([tmp_path / "m.csv"])
    assert [r.path for r in records] == [tmp_path / "x.png"]
    assert records[0].meta == {"label": "mel", "set": "holdout-2019"}


def test_collect_images_missing_and_non_image_paths_still_yield_records(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("x")
    (tmp_path / "m.csv").write_text("path\nlost.png\n")
    records = collect_images([tmp_path / "nope.jpg", text, tmp_path / "m.csv"])
    assert [r.path for r in records] == [tmp_path / "nope.jpg", text, tmp_path / "lost.png"]


def test_collect_images_empty_input_gives_no_records() -> None:
    assert collect_images([]) == []
