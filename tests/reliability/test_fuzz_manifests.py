"""Fuzz the manifest readers: mutated CSV manifests (plain, HAM10000, ISIC), list files and ACNE04 lists, in odd
encodings, with a BOM, CRLF, quoted commas, empty lines and huge fields, each read as a table or refused with one
DermkitError line; never another exception."""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dermkit.data import ImageTable, read_dataset
from dermkit.errors import DataError, DermkitError
from tests.reliability._mutate import encode_text, mutate_text

NAMES = ["a.jpg", "b c.jpg", "d,e.jpg", "é.png", 'q"uote.jpg', "ISIC_0000001.jpg"]
CASE_SECONDS = 2.0


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _numbered(rows: int, make: Callable[[int, str], list[str]]) -> list[list[str]]:
    return [make(i, name) for i, name in zip(range(rows), NAMES * 2, strict=False)]


#: (file name, seed text): each reader's usual file, valid before mutation.
SEEDS = {
    "manifest": ("manifest.csv", _csv([["path", "label", "patient_id", "split"],
                                       *_numbered(6, lambda i, n: [f"imgs/{n}", ["benign", "malignant"][i % 2],
                                                                   f"P{i}", ["train", "val", "test"][i % 3]])])),
    "acne manifest": ("acne.csv", _csv([["image", "grade", "count"],
                                        *_numbered(6, lambda i, n: [f"imgs/{n}", str(i % 4), str(3 * i)])])),
    "ham10000": ("HAM10000_metadata.csv", _csv([["lesion_id", "image_id", "dx", "age", "sex"],
                                                *_numbered(6, lambda i, n: [f"HAM_{i}", Path(n).stem,
                                                                            ["nv", "mel"][i % 2], "45", "male"])])),
    "isic2019": ("ISIC_2019_Training_GroundTruth.csv", _csv([["image", "MEL", "NV", "BCC"],
                                                             *_numbered(6, lambda i, n: [Path(n).stem, *(
                                                                 "1.0" if k == i % 3 else "0.0" for k in range(3))])])),
    "list": ("train.txt", "".join(f"{n},{['a', 'b'][i % 2]}\n" for i, n in enumerate(NAMES))),
    "acne04": ("NNEW_trainval_0.txt", "".join(f"{n} {i % 4} {2 * i}\n" for i, n in enumerate(NAMES) if " " not in n)),
}  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files named by the seeds (content is never decoded by a reader)."""
    root = tmp_path_factory.mktemp("images")
    for folder in ("imgs", "JPEGImages"):
        (root / folder).mkdir()
        for name in NAMES:
            (root / folder / name).write_bytes(b"\xff\xd8 not decoded")
    return root


def _where(images: Path, kind: str, case: int) -> tuple[Path, Path]:
    """A fresh folder beside the images for one case: (the file to write, what read_dataset reads)."""
    folder = images / "cases" / f"{kind.replace(' ', '_')}_{case}"
    folder.mkdir(parents=True)
    for sub in ("imgs", "JPEGImages"):
        (folder / sub).symlink_to(images / sub)
    for image in NAMES:  # HAM10000 and ISIC look for images beside their CSV
        (folder / image).symlink_to(images / "imgs" / image)
    name = SEEDS[kind][0]
    if kind == "acne04":  # a folder with JPEGImages/ and the fold's two lists
        (folder / "NNEW_test_0.txt").write_text("".join(f"{n} 1 3\n" for n in NAMES if " " not in n))
        return folder / name, folder
    return folder / name, folder / name


@pytest.mark.parametrize("kind", list(SEEDS))
def test_every_unmutated_seed_reads_with_its_reader(kind: str, images: Path) -> None:
    target, read = _where(images, kind, -1)
    target.write_text(SEEDS[kind][1], encoding="utf-8")
    table = read_dataset(read)
    expected = {"manifest": "csv_manifest", "acne manifest": "csv_manifest", "list": "list_files",
                "isic2019": "isic"}.get(kind, kind)  # fmt: skip
    assert table.format == expected and len(table.records) >= 4


@pytest.mark.filterwarnings("ignore:.*rows with no positive class")  # the ISIC reader's own note on skipped rows
@pytest.mark.parametrize("kind", list(SEEDS))
def test_mutated_manifests_read_or_fail_with_one_line(kind: str, images: Path) -> None:
    stream = list(SEEDS).index(kind)
    problems, outcomes = [], {"read": 0, "refused": 0}
    for case in range(300):
        rng = np.random.default_rng([16, stream, case])  # replay a case with these three numbers
        target, read = _where(images, kind, case)
        target.write_bytes(encode_text(mutate_text(SEEDS[kind][1], rng), rng))
        start = time.perf_counter()
        try:
            table = read_dataset(read)
            assert isinstance(table, ImageTable) and len(table.records) > 0  # labelled or not (predict reads both)
            outcomes["read"] += 1
        except DermkitError as exc:
            outcomes["refused"] += 1
            if len(str(exc).splitlines()) != 1:
                problems.append(f"case [16, {stream}, {case}]: a {type(exc).__name__} of several lines: {exc!r}")
        except Exception as exc:  # the point: nothing else may escape
            problems.append(f"case [16, {stream}, {case}]: {type(exc).__name__}: {exc}")
        if time.perf_counter() - start > CASE_SECONDS:
            problems.append(f"case [16, {stream}, {case}]: took more than {CASE_SECONDS} s")
        shutil.rmtree(read if read.is_dir() else read.parent)
    assert not problems, "\n".join(problems[:20])
    assert outcomes["read"] >= 20 and outcomes["refused"] >= 20, outcomes  # the mutations reach both outcomes


def test_a_cell_with_line_breaks_is_named_on_one_line(tmp_path: Path) -> None:
    # found by the fuzzer: a quoted path holding line breaks spread "file not found" over four lines
    (tmp_path / "m.csv").write_text('path,label\n"imgs/a\n\r\nb.jpg",benign\n')
    with pytest.raises(DataError) as caught:
        read_dataset(tmp_path / "m.csv")
    assert str(caught.value) == (
        f"{tmp_path / 'm.csv'} line 4: file not found: {tmp_path}/imgs/a\\n\\r\\nb.jpg (1 of 1 files named are missing)"
    )
