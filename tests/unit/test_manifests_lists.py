"""dermkit.data.manifests list files (``name,label`` text), plus a fuzz test of list and CSV text reading."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dermkit.data import ImageTable, read_dataset
from dermkit.errors import DataError
from tests.unit._manifest_helpers import _image, _images, _one_line

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
