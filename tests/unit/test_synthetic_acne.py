"""Synthetic acne faces: the drawn spots are really there, one red blob each, and the manifest counts them."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from dermkit.cli import main
from dermkit.data import read_dataset
from dermkit.data.acne import GRADE_NAMES
from dermkit.data.synthetic_acne import (
    MANIFEST_HEADER,
    make_synthetic_acne_dataset,
    render_acne_face,
    sample_count,
)
from dermkit.errors import DataError


def _lesion_mask(image: np.ndarray) -> np.ndarray:
    """Strongly red pixels: red exceeds both green and blue by more than 55 % of red (skin stays under 50 %)."""
    rgb = image.astype(np.float32)
    return (rgb[..., 0] - rgb[..., 1:].max(-1)) / (rgb[..., 0] + 1) > 0.55


def _blobs(image: np.ndarray) -> int:
    """Connected lesion-coloured regions (8-connected, so touching spots would merge and be caught)."""
    return ndimage.label(_lesion_mask(image), structure=np.ones((3, 3)))[1]


def _hayashi(count: int) -> str:
    """Hayashi et al. (J. Dermatol. 2008): mild 0-5, moderate 6-20, severe 21-50, very severe above 50."""
    if count <= 5:
        return "mild"
    if count <= 20:
        return "moderate"
    return "severe" if count <= 50 else "very_severe"


@pytest.mark.parametrize("size", [64, 96])
@pytest.mark.parametrize("count", [0, 5, 6, 20, 21, 50, 51, 60])
def test_each_drawn_spot_is_one_red_blob_at_its_centre(count: int, size: int) -> None:
    image, spots = render_acne_face(np.random.default_rng([count, size]), count, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8 and spots.shape == (count, 3)
    mask = _lesion_mask(image)
    assert all(mask[int(y), int(x)] for x, y, _ in spots)
    assert _blobs(image) == count


def test_dataset_manifest_counts_the_spots_in_every_image(tmp_path: Path) -> None:
    summary = make_synthetic_acne_dataset(tmp_path, n=24, size=64, seed=3)
    with summary.manifest.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == MANIFEST_HEADER
        rows = list(reader)
    assert len(rows) == 24 and len(list((tmp_path / "images").glob("*.png"))) == 24
    for row in rows:
        image = cv2.cvtColor(cv2.imread(str(tmp_path / row["path"])), cv2.COLOR_BGR2RGB)
        assert _blobs(image) == int(row["count"]), row["path"]
        assert row["grade"] == _hayashi(int(row["count"]))
    assert set(Counter(row["grade"] for row in rows)) == set(GRADE_NAMES)
    assert summary.grade_counts == dict(Counter(row["grade"] for row in rows))
    patient_splits = {(row["patient_id"], row["split"]) for row in rows}
    assert len(patient_splits) == len({row["patient_id"] for row in rows})  # a patient lies in one split
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    table = read_dataset(summary.manifest)
    assert table.class_names == list(GRADE_NAMES)
    assert [r.count for r in table.records] == [int(row["count"]) for row in rows]


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    first = files(make_synthetic_acne_dataset(tmp_path / "a", n=6, size=48, seed=5).root)
    again = files(make_synthetic_acne_dataset(tmp_path / "b", n=6, size=48, seed=5).root)
    other = files(make_synthetic_acne_dataset(tmp_path / "c", n=6, size=48, seed=6).root)
    assert first == again
    assert first["images/acne_00000.png"] != other["images/acne_00000.png"]


def test_counts_cover_every_grade_evenly_and_each_range_end() -> None:
    rng = np.random.default_rng(0)
    counts = [sample_count(rng) for _ in range(4000)]
    grades = Counter(_hayashi(c) for c in counts)
    assert all(abs(grades[name] / 4000 - 0.25) < 0.03 for name in GRADE_NAMES)
    assert min(counts) == 0 and max(counts) == 60
    assert {0, 5, 6, 20, 21, 50, 51, 60} <= set(counts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be an integer >= 1"),
        ({"size": 16}, "size must be an integer >= 32"),
        ({"image_format": "gif"}, "unknown image_format 'gif'"),
        ({"grade_names": ("low", "high")}, "3 grade boundaries need 4 grade names"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        make_synthetic_acne_dataset(tmp_path, **kwargs)


def test_cli_synth_task_acne_writes_images_and_manifest(tmp_path: Path, capsys) -> None:
    out = tmp_path / "acne"
    assert main(["synth", str(out), "--task", "acne", "--n", "8", "--size", "64", "--seed", "1"]) == 0
    assert f"manifest: {out / 'manifest.csv'}" in capsys.readouterr().out
    table = read_dataset(out / "manifest.csv")
    assert len(table) == 8 and all(r.path.is_file() and r.path.suffix == ".png" for r in table.records)
    assert all(r.count is not None and 0 <= r.count <= 60 for r in table.records)
    assert main(["synth", str(tmp_path / "x"), "--task", "segment"]) == 2
    assert "unknown --task 'segment'; choose one of: classify, acne" in capsys.readouterr().err
