"""Tests for dermkit.data.manifests (CSV manifests, list files) and dermkit.data.inputs (collect_images)."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from dermkit.data import ImageTable, read_dataset
from dermkit.data.inputs import collect_images
from dermkit.errors import DataError

_COLOURS = itertools.count(1)


def _image(path: Path) -> Path:
    """Write a tiny PNG whose bytes differ from every other image this module writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    index = next(_COLOURS)
    Image.new("RGB", (8, 8), (index % 256, index // 256 % 256, 33)).save(path, format="PNG")
    return path


def _images(folder: Path, names: list[str]) -> list[Path]:
    return [_image(folder / name) for name in names]


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


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


# --- list files ----------------------------------------------------------------------------------------------------


def _list_dataset(root: Path, text: str, names: list[str], list_name: str = "train.txt") -> Path:
    _images(root / "images", names)
    (root / list_name).write_text(text)
    return root


def test_list_file_without_trailing_newline_keeps_last_line(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "a.jpg,0\nb.jpg,1\nc.jpg,1", ["a.jpg", "b.jpg", "c.jpg"])
    table = read_dataset(root)
    assert table.format == "list_files"
    assert [r.path.name for r in table.records] == ["a.jpg", "b.jpg", "c.jpg"]
    assert table.class_counts() == [1, 2]


def test_list_file_with_trailing_newline_keeps_every_line(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "a.jpg,0\r\nb.jpg,1\r\nc.jpg,1\r\n", ["a.jpg", "b.jpg", "c.jpg"])
    assert [r.path.name for r in read_dataset(root).records] == ["a.jpg", "b.jpg", "c.jpg"]


def test_single_line_list_file_without_newline_is_read(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "ISIC_0000001.jpg,0", ["ISIC_0000001.jpg"])
    assert len(read_dataset(root / "train.txt")) == 1


def test_list_file_space_separated_names_may_contain_spaces(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "my photo.png  nevus\nother.png\tmelanoma\n", ["my photo.png", "other.png"])
    table = read_dataset(root)
    assert table.class_names == ["melanoma", "nevus"]
    assert [(r.path.name, table.class_names[r.label]) for r in table.records] == [
        ("my photo.png", "nevus"),
        ("other.png", "melanoma"),
    ]


def test_list_files_for_each_split_share_a_numeric_class_index(tmp_path: Path) -> None:
    names = [f"ISIC_{k:07d}.jpg" for k in range(5)]
    _images(tmp_path / "images", names)
    (tmp_path / "train.txt").write_text(f"{names[0]},0\n{names[1]},10\n")
    (tmp_path / "val.txt").write_text(f"{names[2]},2")
    (tmp_path / "test.txt").write_text(f"{names[3]},2\n{names[4]},0\n")
    (tmp_path / "README.txt").write_text("ignored")
    table = read_dataset(tmp_path)
    assert table.class_names == ["0", "2", "10"]
    assert table.splits == ["train", "val", "test"]
    assert sorted((r.path.name, table.class_names[r.label], r.split) for r in table.records) == [
        (names[0], "0", "train"),
        (names[1], "10", "train"),
        (names[2], "2", "val"),
        (names[3], "2", "test"),
        (names[4], "0", "test"),
    ]


def test_list_file_indices_refer_to_fixed_class_names(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "a.png,1\nb.png,benign\n", ["a.png", "b.png"])
    table = read_dataset(root, class_names=["benign", "malignant"])
    assert [table.class_names[r.label] for r in table.records] == ["malignant", "benign"]


def test_list_file_skips_blank_and_comment_lines_but_keeps_line_numbers(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "# name,label\n\na.png,0\n\nlost.png,1\n", ["a.png"])
    with pytest.raises(DataError) as exc:
        read_dataset(root)
    message = _one_line(exc)
    assert "line 5 of train.txt: file not found" in message
    assert "lost.png" in message


def test_empty_list_file_raises_naming_it(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "", ["a.png"])
    (root / "val.txt").write_text("a.png,0\n")
    with pytest.raises(DataError) as exc:
        read_dataset(root)
    assert _one_line(exc) == f"{root / 'train.txt'}: the list file holds no lines"


def test_list_file_of_only_comments_and_blanks_raises(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "# nothing\n\n   \n", ["a.png"])
    with pytest.raises(DataError, match="holds no lines"):
        read_dataset(root / "train.txt")


@pytest.mark.parametrize("line", ["a.png", "a.png,", ",0", "a.png ,  "])
def test_list_line_without_name_or_label_raises_naming_the_line(tmp_path: Path, line: str) -> None:
    root = _list_dataset(tmp_path, f"b.png,0\n{line}\n", ["a.png", "b.png"])
    with pytest.raises(DataError) as exc:
        read_dataset(root)
    message = _one_line(exc)
    assert f"{root / 'train.txt'} line 2: expected 'name,label' or 'name label'" in message


def test_list_file_non_utf8_raises(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / "train.txt").write_bytes(b"a.png,0\n\xff\xfe.png,1\n")
    with pytest.raises(DataError) as exc:
        read_dataset(tmp_path)
    assert _one_line(exc) == f"{tmp_path / 'train.txt'}: not a UTF-8 text file"


def test_list_file_finds_images_in_a_sibling_images_folder(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["a.png"])
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text("a.png,x\n")
    table = read_dataset(tmp_path / "lists")
    assert [r.path.resolve() for r in table.records] == [(tmp_path / "images" / "a.png").resolve()]


def test_list_file_images_dir_option(tmp_path: Path) -> None:
    _images(tmp_path / "pics" / "all", ["a.png"])
    (tmp_path / "train.txt").write_text("a.png 0")
    table = read_dataset(tmp_path, images_dir="pics/all")
    assert table.records[0].path.resolve() == (tmp_path / "pics" / "all" / "a.png").resolve()
    with pytest.raises(DataError, match="images_dir 'nope' is not a folder"):
        read_dataset(tmp_path, images_dir="nope")


def test_list_file_naming_unknown_user_home_raises_data_error(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "a.png,0\n~no_such_user_dermkit/b.png,1\n", ["a.png"])
    with pytest.raises(DataError, match=r"line 2 of train\.txt: file not found"):
        read_dataset(root)


def test_list_file_naming_an_overlong_file_raises_data_error(tmp_path: Path) -> None:
    root = _list_dataset(tmp_path, "a.png,0\n" + "x" * 300 + ".png,1\n", ["a.png"])
    with pytest.raises(DataError, match=r"line 2 of train\.txt: file not found"):
        read_dataset(root)


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


# --- fuzz ----------------------------------------------------------------------------------------------------------

_NAMES = ["a.png", "b.png", "sub/c.png", "images/d.png", "a", "missing.png", "~no_such_user_dermkit/x.png",
          "x" * 300 + ".png", "/", ".", "..", "", " ", '"a.png"', "a.png\x00"]  # fmt: skip
_LABELS = ["0", "1", "10", "-1", "mel", "nv", "", " ", "1_0", "\u0663", "9" * 5000, "train"]
_SEPARATORS = [",", " ", "\t", ";", ", ", ",,"]
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_LINE = st.one_of(
    _TEXT,
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(_SEPARATORS), st.sampled_from(_LABELS) | _TEXT).map("".join),
)
_GOOD_LINE = st.tuples(
    st.sampled_from(["a.png", "b.png", "sub/c.png", "a", " b.png"]),
    st.sampled_from([",", " ", "\t", " , "]),
    st.sampled_from(["0", "1", "10", "mel", "nv", " 2"]),
).map("".join)
_HEADERS = ["path,label", "filename,label,split", ",filename,label,split", "image,dx,patient_id", "path", "label"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["txt_file", "txt_folder", "csv_file", "csv_folder"]),
    header=st.just("path,label") | st.sampled_from(_HEADERS) | _TEXT,
    lines=st.lists(_GOOD_LINE, min_size=1, max_size=6)
    | st.lists(_GOOD_LINE | _LINE | st.sampled_from(["", "# comment", "\r", '"', '"a\nb",0']), max_size=8),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    trailing=st.booleans(),
    garbage=st.sampled_from([b"", b"\xff", b"\x00", b"\xef\xbb\xbf"]),
)
def test_fuzzed_list_and_csv_text_reads_or_raises_data_error(
    kind: str, header: str, lines: list[str], ending: str, trailing: bool, garbage: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("a.png", "b.png", "sub/c.png", "images/d.png"):
            _image(root / name)
        body = ([header] if kind.startswith("csv") else []) + lines
        text = ending.join(body) + (ending if trailing else "")
        data = garbage + text.encode("utf-8")
        suffix = ".csv" if kind.startswith("csv") else ".txt"
        file = root / f"train{suffix}"
        file.write_bytes(data)
        target = root if kind.endswith("folder") else file
        try:
            table = read_dataset(target)
        except DataError as exc:
            event(f"{kind}: DataError")
            assert str(exc)
            if kind.startswith("txt"):
                assert "\n" not in str(exc)
            return
        event(f"{kind}: read {table.format}")
        assert isinstance(table, ImageTable)
        assert table.records
        assert all(r.label is None or 0 <= r.label < table.num_classes for r in table.records)
        assert all(r.path.is_file() for r in table.records)
