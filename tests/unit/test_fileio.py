"""Atomic writers: all-or-nothing, normal permissions, JSON without NaN."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from dermkit.errors import OutputPathError
from dermkit.fileio import atomic_open, write_csv, write_json, write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_get_umask_permissions_not_owner_only(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    path = write_text(tmp_path / "report.html", "<html></html>")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_json_writer_turns_nan_and_numpy_values_into_plain_json(tmp_path: Path) -> None:
    path = write_json(tmp_path / "m.json", {"a": float("nan"), "b": np.float32(0.5), "c": np.arange(2), "d": math.inf})
    assert json.loads(path.read_text()) == {"a": None, "b": 0.5, "c": [0, 1], "d": None}


def test_csv_writer_creates_parent_folders(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deep" / "p.csv", ["path", "label"], [["a.jpg", "x"]])
    assert path.read_text().splitlines() == ["path,label", "a.jpg,x"]


def test_writing_onto_a_folder_or_below_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputPathError, match=r"out: is a folder"):
        write_text(tmp_path / "out", "x")
    (tmp_path / "file").write_text("keep")
    with pytest.raises(OutputPathError, match="a file is in the way"):
        write_text(tmp_path / "file" / "metrics.json", "x")
    assert (tmp_path / "file").read_text() == "keep" and list((tmp_path / "out").iterdir()) == []
