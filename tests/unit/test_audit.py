"""Tests for dermkit.data.audit."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dermkit.data.audit import AuditReport, audit_dataset
from dermkit.data.formats import read_dataset
from dermkit.data.records import ImageTable, Record
from dermkit.errors import DataError

CONTRACT_KEYS = {
    "source", "n_images", "class_names", "splits", "imbalance_ratio", "sizes", "modes", "formats",
    "unreadable", "exact_duplicates", "near_duplicates", "patients_across_splits", "leakage", "shots",
}  # fmt: skip


def _smooth(seed: int, width: int = 160, height: int | None = None) -> np.ndarray:
    """A random, photo-like (smooth) RGB image; different seeds give clearly different perceptual hashes."""
    low = np.random.default_rng(seed).integers(0, 256, size=(6, 6, 3)).astype(np.uint8)
    return cv2.resize(low, (width, height or width), interpolation=cv2.INTER_CUBIC)


def _save(path: Path, pixels: np.ndarray, mode: str = "RGB", **params: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    if mode == "RGBA":
        alpha = Image.fromarray(np.full(pixels.shape[:2], 200, np.uint8))
        image = image.convert("RGBA")
        image.putalpha(alpha)
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path, **params)
    return path


def _split_dataset(root: Path, layout: dict[str, dict[str, int]]) -> None:
    """``root/<split>/<class>/img_<n>.jpg`` with ``layout[split][class]`` distinct images each."""
    seed = 1000
    for split, classes in layout.items():
        for name, count in classes.items():
            for _ in range(count):
                seed += 1
                _save(root / split / name / f"img_{seed}.jpg", _smooth(seed, 96), quality=92)


def _table(records: list[tuple[Path, int | None, str | None]], classes: tuple[str, ...] = ("a", "b")) -> ImageTable:
    rows = [Record(path=path, label=label, split=split) for path, label, split in records]
    return ImageTable(rows, list(classes), source="test-table")


def test_class_counts_per_split_and_imbalance(tmp_path: Path) -> None:
    _split_dataset(tmp_path, {"train": {"a": 3, "b": 1}, "val": {"a": 1, "b": 1}, "test": {"a": 1, "b": 2}})
    report = audit_dataset(read_dataset(tmp_path), near_duplicates=False)
    assert report.n_images == 9
    assert report.splits == {"train": [3, 1], "val": [1, 1], "test": [1, 2]}
    assert report.imbalance_ratio == pytest.approx(5 / 4)
    assert report.unreadable == [] and report.exact_duplicates == []


def test_imbalance_ratio_is_none_when_a_class_is_empty(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.png", _smooth(1, 64))
    report = audit_dataset(_table([(path, 0, None)], classes=("a", "b", "c")))
    assert report.imbalance_ratio is None
    assert report.to_dict()["splits"] == {"all": [1, 0, 0]}


def test_sizes_modes_and_formats_use_the_stored_size(tmp_path: Path) -> None:
    files = [
        _save(tmp_path / "rgb_big.jpg", _smooth(1, 640, 480), quality=90),  # decoded at 1/4 scale, reported 640 x 480
        _save(tmp_path / "rgb_small.jpg", _smooth(2, 100, 80), quality=90),
        _save(tmp_path / "grey.png", _smooth(3, 64, 64), mode="L"),
        _save(tmp_path / "alpha.png", _smooth(4, 200, 120), mode="RGBA"),
    ]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    report = audit_dataset(_table([(path, 0, None) for path in [*files, empty]]))
    assert report.n_images == 5  # the unreadable file counts here but not in the statistics
    assert report.sizes["width"] == {"min": 64, "median": 150, "max": 640}
    assert report.sizes["height"] == {"min": 64, "median": 100, "max": 480}
    assert report.sizes["megapixels"] == {"min": 0.0041, "median": 0.016, "max": 0.3072}
    assert report.modes == {"RGB": 2, "L": 1, "RGBA": 1}
    assert report.formats == {"JPEG": 2, "PNG": 2}


def test_truncated_and_empty_files_are_unreadable(tmp_path: Path) -> None:
    good = _save(tmp_path / "good.jpg", _smooth(1, 256), quality=95)
    data = io.BytesIO()
    Image.fromarray(_smooth(2, 256)).save(data, format="JPEG", quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    table = _table([(good, 0, None), (truncated, 0, None), (empty, 1, None)])

    decoded = audit_dataset(table)
    errors = {item.path: item.error for item in decoded.unreadable}
    assert set(errors) == {str(truncated), str(empty)}
    assert "truncated" in errors[str(truncated)] and "empty" in errors[str(empty)]
    assert not errors[str(empty)].startswith(str(empty))  # the reason alone; the path is its own field
    assert decoded.n_images == 3 and decoded.modes == {"RGB": 1}

    # Header only: the empty file still fails the probe, but the truncated JPEG's header is intact, so it passes.
    header_only = audit_dataset(table, decode=False)
    assert [item.path for item in header_only.unreadable] == [str(empty)]
    assert header_only.modes == {"RGB": 2}
    assert header_only.near_duplicates == [] and not header_only.near_checked
    text = "\n".join(header_only.summary_lines())
    assert "header only" in text and "not checked" in text


def test_byte_identical_copy_across_splits_is_exact_leakage(tmp_path: Path) -> None:
    original = _save(tmp_path / "train" / "a" / "x.jpg", _smooth(1), quality=90)
    copy = tmp_path / "test" / "a" / "x_copy.jpg"
    copy.parent.mkdir(parents=True)
    shutil.copy(original, copy)
    _save(tmp_path / "test" / "b" / "other.jpg", _smooth(2), quality=90)
    _save(tmp_path / "train" / "b" / "other2.jpg", _smooth(3), quality=90)
    result = audit_dataset(read_dataset(tmp_path)).to_dict()
    assert result["exact_duplicates"] == [
        {"paths": [str(copy), str(original)], "splits": ["test", "train"], "labels": ["a", "a"],
         "cross_split": True, "conflicting_labels": False}
    ]  # fmt: skip
    assert result["leakage"] == {"exact": 1, "near": 0, "patients": 0}
    assert result["near_duplicates"] == []  # identical files are not repeated as near duplicates


def test_identical_images_with_different_labels_conflict(tmp_path: Path) -> None:
    original = _save(tmp_path / "a" / "x.png", _smooth(1))
    copy = tmp_path / "b" / "x.png"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    [group] = audit_dataset(read_dataset(tmp_path)).exact_duplicates
    assert group.labels == ("a", "b") and group.conflicting_labels
    assert group.splits == (None, None) and not group.cross_split


def test_one_file_listed_in_two_splits_is_exact_leakage(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.jpg", _smooth(1), quality=90)
    other = _save(tmp_path / "y.jpg", _smooth(2), quality=90)
    calls: list[tuple[int, int]] = []
    report = audit_dataset(
        _table([(path, 0, "train"), (path, 0, "test"), (other, 1, "val")]), progress=lambda *a: calls.append(a)
    )
    assert report.n_images == 3
    assert [(g.paths, g.splits) for g in report.exact_duplicates] == [((str(path), str(path)), ("test", "train"))]
    assert report.leakage == {"exact": 1, "near": 0, "patients": 0}
    assert calls[-1] == (2, 2) and len(calls) == 2  # each distinct file is read once


def test_resized_recompressed_copy_in_another_split_is_near_duplicate(tmp_path: Path) -> None:
    original = _save(tmp_path / "train" / "a" / "orig.png", _smooth(7, 320))
    small = cv2.resize(_smooth(7, 320), (200, 200), interpolation=cv2.INTER_AREA)
    variant = _save(tmp_path / "test" / "a" / "variant.jpg", small, quality=70)
    # A within-split pair (same pixels, different PNG bytes) sorting first by path and distance, and unrelated images.
    within = _save(tmp_path / "test" / "a" / "0w.png", _smooth(8, 160), compress_level=1)
    within_copy = _save(tmp_path / "test" / "a" / "0w_copy.png", _smooth(8, 160), compress_level=9)
    for seed in range(20, 26):
        _save(tmp_path / ("train" if seed % 2 else "test") / "b" / f"u{seed}.jpg", _smooth(seed), quality=90)
    report = audit_dataset(read_dataset(tmp_path), max_distance=6)
    pairs = report.to_dict()["near_duplicates"]
    found = {frozenset((p["a"], p["b"])): p for p in pairs}
    assert set(found) == {frozenset((str(original), str(variant))), frozenset((str(within), str(within_copy)))}
    cross = found[frozenset((str(original), str(variant)))]
    assert cross["cross_split"] and sorted(cross["splits"]) == ["test", "train"] and cross["distance"] <= 6
    assert found[frozenset((str(within), str(within_copy)))]["distance"] == 0  # so only cross-split priority...
    assert pairs[0] is cross  # ...puts the cross-split pair first
    assert report.leakage == {"exact": 0, "near": 1, "patients": 0}
    assert report.exact_duplicates == []


def test_unrelated_images_are_not_near_duplicates(tmp_path: Path) -> None:
    paths = [_save(tmp_path / f"{seed}.jpg", _smooth(seed, 128), quality=90) for seed in range(12)]
    report = audit_dataset(_table([(path, seed % 2, None) for seed, path in enumerate(paths)]), workers=3)
    assert report.near_checked and report.near_duplicates == []
    assert report.exact_duplicates == [] and report.unreadable == []


def test_to_dict_is_json_ready_with_exact_keys(tmp_path: Path) -> None:
    original = _save(tmp_path / "train" / "a" / "x.jpg", _smooth(1), quality=90)
    (tmp_path / "test" / "a").mkdir(parents=True)
    shutil.copy(original, tmp_path / "test" / "a" / "x.jpg")
    _save(tmp_path / "test" / "b" / "y.png", _smooth(2), mode="L")
    (tmp_path / "train" / "b").mkdir()
    (tmp_path / "train" / "b" / "bad.jpg").write_bytes(b"not an image at all")
    result = audit_dataset(read_dataset(tmp_path)).to_dict()
    assert set(result) == CONTRACT_KEYS
    assert json.loads(json.dumps(result, allow_nan=False)) == result  # tuples or numpy values would not round-trip
    assert result["unreadable"][0]["path"].endswith("bad.jpg") and "not an image" in result["unreadable"][0]["error"]
    assert result["imbalance_ratio"] == 1.0 and result["splits"] == {"train": [1, 1], "test": [1, 1]}


def test_summary_lines_report_balance_and_leakage(tmp_path: Path) -> None:
    original = _save(tmp_path / "train" / "melanoma" / "x.jpg", _smooth(1), quality=90)
    (tmp_path / "test" / "melanoma").mkdir(parents=True)
    shutil.copy(original, tmp_path / "test" / "melanoma" / "x.jpg")
    _save(tmp_path / "train" / "nevus" / "y.jpg", _smooth(2), quality=90)
    lines = audit_dataset(read_dataset(tmp_path)).summary_lines()
    text = "\n".join(lines)
    assert lines[1].split() == ["class", "train", "test", "total"]
    assert "width 160..160 (median 160)" in text
    assert (
        "melanoma" in text
        and "LEAKAGE: 1 exact groups, 0 near pairs and 0 patients span splits" in text
        and str(original) in text
    )
    assert all(isinstance(line, str) and "\n" not in line for line in lines)


def test_table_without_splits_uses_all(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "x.jpg", _smooth(1), quality=90)
    _save(tmp_path / "b" / "y.jpg", _smooth(2), quality=90)
    _save(tmp_path / "b" / "z.jpg", _smooth(3), quality=90)
    report = audit_dataset(read_dataset(tmp_path))
    assert report.to_dict()["splits"] == {"all": [1, 2]}
    assert report.imbalance_ratio == 2.0
    assert "leakage: none found" in report.summary_lines()


def test_mixed_table_counts_records_without_split_as_unassigned(tmp_path: Path) -> None:
    paths = [_save(tmp_path / f"{i}.png", _smooth(i, 48)) for i in range(3)]
    report = audit_dataset(_table([(paths[0], 0, "train"), (paths[1], 1, None), (paths[2], 1, "test")]))
    assert report.splits == {"train": [1, 0], "test": [0, 1], "unassigned": [0, 1]}


def test_bad_arguments_raise(tmp_path: Path) -> None:
    table = _table([(_save(tmp_path / "x.png", _smooth(1, 48)), 0, None)])
    with pytest.raises(DataError, match="workers"):
        audit_dataset(table, workers=0)
    with pytest.raises(DataError, match="max_distance"):
        audit_dataset(table, max_distance=-1)
    assert isinstance(audit_dataset(table, workers=1), AuditReport)


def test_a_patient_in_two_splits_is_leakage(tmp_path: Path) -> None:
    paths = [_save(tmp_path / f"{i}.jpg", _smooth(i), quality=90) for i in range(4)]
    records = [Record(paths[0], 0, "train", group="P1"), Record(paths[1], 0, "test", group="P1"),
               Record(paths[2], 1, "train", group="P2"), Record(paths[3], 1, "train", group=None)]  # fmt: skip
    report = audit_dataset(ImageTable(records, ["a", "b"], source="t"), near_duplicates=False)
    assert report.patients_across_splits == ["P1"] and report.leakage["patients"] == 1
    assert "patients (lesions) in several splits: 1, e.g. P1" in "\n".join(report.summary_lines())
