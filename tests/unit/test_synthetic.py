"""Tests for the synthetic dermoscopy generator (dermkit.data.synthetic)."""

from __future__ import annotations

import csv
import re
from itertools import groupby
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dermkit.data.lesion_render import render_lesion
from dermkit.data.synthetic import (
    _IMAGE_TAG,
    MANIFEST_HEADER,
    SyntheticSummary,
    _patients,
    make_synthetic_dataset,
)
from dermkit.errors import DataError, DermkitError


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_manifest(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _colour_quantiles(image: np.ndarray) -> np.ndarray:
    """Simple features: RGB and HSV quantiles of the whole image and of its central half."""
    side = image.shape[0]
    feats = []
    for part in (image, image[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4]):
        hsv = cv2.cvtColor(np.ascontiguousarray(part), cv2.COLOR_RGB2HSV_FULL)
        pixels = np.concatenate([part.reshape(-1, 3), hsv.reshape(-1, 3)], axis=1).astype(np.float32)
        feats.append(np.percentile(pixels, [2, 10, 25, 50, 75], axis=0).ravel() / 255)
    return np.concatenate(feats)


def _corner_means(image: np.ndarray) -> np.ndarray:
    """Mean colour of the four 8x8 corners: background only (skin, vignette, hair), never the lesion."""
    corners = [image[r, c] for r in (slice(0, 8), slice(-8, None)) for c in (slice(0, 8), slice(-8, None))]
    return np.concatenate([corner.reshape(-1, 3).mean(0) for corner in corners]) / 255


def _lesion_core(image: np.ndarray, attrs: dict[str, object]) -> np.ndarray:
    """The pixels (N x 3) within half a radius of the lesion centre."""
    cx, cy = attrs["center"]
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]] + 0.5
    return image[np.hypot(xx - cx, yy - cy) < 0.5 * attrs["radius"]].astype(np.float32)


def _classifier() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))


def _dataset(root: Path, num_classes: int, per_class: int = 60, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    classes = [f"class{k}" for k in range(num_classes)]
    make_synthetic_dataset(root, classes=classes, per_class=per_class, size=size, seed=11)
    images, labels = [], []
    for k, name in enumerate(classes):
        for path in sorted((root / name).glob("*.jpg")):
            images.append(_read_rgb(path))
            labels.append(k)
    return np.stack(images), np.array(labels)


# ---------------------------------------------------------------- render_lesion


@pytest.mark.parametrize(("size", "class_index", "num_classes"), [(16, 0, 1), (64, 1, 2), (100, 3, 7), (128, 0, 2)])
def test_render_lesion_shape_dtype_and_attributes(size: int, class_index: int, num_classes: int) -> None:
    image, attrs = render_lesion(np.random.default_rng(3), class_index, num_classes, size)
    assert image.shape == (size, size, 3)
    assert image.dtype == np.uint8
    assert image.std() > 5  # not a flat image
    assert attrs["fitzpatrick"] in range(1, 7)
    assert isinstance(attrs["hair"], bool)
    assert attrs["class_index"] == class_index
    assert 0.0 <= attrs["t"] <= 1.0
    assert attrs["pattern"] in ("homogeneous", "globules", "network", "streaks")


def test_forced_skin_type_changes_only_the_skin() -> None:
    light, light_attrs = render_lesion(np.random.default_rng(5), 0, 2, 64, fitzpatrick=1)
    dark, dark_attrs = render_lesion(np.random.default_rng(5), 0, 2, 64, fitzpatrick=6)
    assert (light_attrs["fitzpatrick"], dark_attrs["fitzpatrick"]) == (1, 6)
    assert {k: v for k, v in light_attrs.items() if k != "fitzpatrick"} == {
        k: v for k, v in dark_attrs.items() if k != "fitzpatrick"
    }
    assert _corner_means(light).mean() > _corner_means(dark).mean()


def test_nuisances_vary_independently_of_class() -> None:
    attrs = [render_lesion(np.random.default_rng([1, i]), i % 2, 2, 32)[1] for i in range(300)]
    hair = np.array([a["hair"] for a in attrs])
    assert 0.3 < hair.mean() < 0.5
    assert {a["fitzpatrick"] for a in attrs} == set(range(1, 7))
    for k in (0, 1):  # both classes get hair and every skin type
        assert 0.25 < hair[k::2].mean() < 0.55
        assert {a["fitzpatrick"] for a in attrs[k::2]} == set(range(1, 7))


def test_malignant_like_class_is_irregular_dark_and_variegated() -> None:
    benign = [render_lesion(np.random.default_rng([2, i]), 0, 2, 64) for i in range(30)]
    malignant = [render_lesion(np.random.default_rng([2, i]), 1, 2, 64) for i in range(30)]
    irregular_b = np.mean([a["irregularity"] for _, a in benign])
    irregular_m = np.mean([a["irregularity"] for _, a in malignant])
    assert irregular_m > 3 * irregular_b
    # Same seeds, so skin and nuisances match: the lesion core is darker and more varied for the malignant class.
    core_b = [_lesion_core(image, attrs) for image, attrs in benign]
    core_m = [_lesion_core(image, attrs) for image, attrs in malignant]
    assert np.mean([c.mean() for c in core_m]) < np.mean([c.mean() for c in core_b]) - 20
    assert np.mean([c.std(axis=0).mean() for c in core_m]) > 1.5 * np.mean([c.std(axis=0).mean() for c in core_b])


def test_render_is_deterministic_and_independent_of_opencv_threads() -> None:
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        single, _ = render_lesion(np.random.default_rng(9), 2, 4, 96)
        cv2.setNumThreads(max(threads, 4))
        multi, _ = render_lesion(np.random.default_rng(9), 2, 4, 96)
    finally:
        cv2.setNumThreads(threads)
    assert np.array_equal(single, multi)
    other, _ = render_lesion(np.random.default_rng(10), 2, 4, 96)
    assert not np.array_equal(single, other)


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((0, 2, 15), {}, "size"),
        ((2, 2), {}, "class_index"),
        ((0, 0), {}, "class_index"),
        ((0, 2), {"fitzpatrick": 7}, "1..6"),
    ],
)
def test_render_lesion_rejects_bad_arguments(args: tuple, kwargs: dict, fragment: str) -> None:
    with pytest.raises(DataError, match=re.escape(fragment)):
        render_lesion(np.random.default_rng(0), *args, **kwargs)


# ---------------------------------------------------------------- make_synthetic_dataset


def test_dataset_tree_counts_and_images(tmp_path: Path) -> None:
    root = tmp_path / "out"
    classes = ("nevus", "melanoma", "bcc")
    summary = make_synthetic_dataset(root, classes=classes, per_class=4, size=32, image_format="png")
    assert isinstance(summary, SyntheticSummary)
    assert summary.root == root
    assert summary.class_names == ["nevus", "melanoma", "bcc"]
    assert summary.counts == {"nevus": 4, "melanoma": 4, "bcc": 4}
    assert summary.manifest is None
    expected = {f"{c}/{c}_{i:05d}.png" for c in ("nevus", "melanoma", "bcc") for i in range(4)}
    assert set(_files(root)) == expected
    image = _read_rgb(root / "bcc" / "bcc_00003.png")
    assert image.shape == (32, 32, 3)


def test_jpeg_files_decode_close_to_the_rendered_image(tmp_path: Path) -> None:
    make_synthetic_dataset(tmp_path, classes=("only",), per_class=1, size=64, seed=4)
    decoded = _read_rgb(tmp_path / "only" / "only_00000.jpg")
    assert (tmp_path / "only" / "only_00000.jpg").read_bytes()[:2] == b"\xff\xd8"
    # the file is the rendering of its own generator (seed, class, index), in RGB order (not BGR)
    fitz = _patients(4, 0, 1)[0][1]
    rendered, _ = render_lesion(np.random.default_rng([4, 0, 0, _IMAGE_TAG]), 0, 1, 64, fitzpatrick=fitz)
    assert np.abs(decoded.astype(int) - rendered.astype(int)).mean() < 3
    assert np.abs(decoded[..., ::-1].astype(int) - rendered.astype(int)).mean() > 5


def test_manifest_columns_paths_and_patients(tmp_path: Path) -> None:
    summary = make_synthetic_dataset(tmp_path, classes=("benign", "malignant"), per_class=25, size=16, manifest=True)
    assert summary.manifest == tmp_path / "manifest.csv"
    header, rows = _read_manifest(tmp_path / "manifest.csv")
    assert header == list(MANIFEST_HEADER) == ["path", "label", "patient_id", "fitzpatrick"]
    assert len(rows) == 50
    assert rows[3]["path"] == "benign/benign_00003.jpg"
    for row in rows:
        assert (tmp_path / row["path"]).is_file()
        assert row["path"].split("/")[0] == row["label"]
        assert re.fullmatch(r"P\d{5}", row["patient_id"])
        assert int(row["fitzpatrick"]) in range(1, 7)
    by_patient: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_patient.setdefault(row["patient_id"], []).append(row)
    assert 50 / 3 <= len(by_patient) < 50  # some patients have several images
    for patient_rows in by_patient.values():
        assert len({r["label"] for r in patient_rows}) == 1  # never mixes classes
        assert len({r["fitzpatrick"] for r in patient_rows}) == 1  # one skin tone per patient
        assert 1 <= len(patient_rows) <= 3
    runs = [key for key, _ in groupby(row["patient_id"] for row in rows)]
    assert len(runs) == len(set(runs))  # a patient's images are consecutive


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    kwargs = {"classes": ("a", "b"), "per_class": 5, "size": 48, "manifest": True}
    first = _files(make_synthetic_dataset(tmp_path / "1", seed=7, **kwargs).root)
    second = _files(make_synthetic_dataset(tmp_path / "2", seed=7, **kwargs).root)
    third = _files(make_synthetic_dataset(tmp_path / "3", seed=8, **kwargs).root)
    assert first == second
    images = [name for name in first if name.endswith(".jpg")]
    assert len(images) == 10
    assert all(first[name] != third[name] for name in images)


def test_images_do_not_depend_on_count_or_manifest(tmp_path: Path) -> None:
    small = _files(make_synthetic_dataset(tmp_path / "s", classes=("a", "b"), per_class=3, size=32).root)
    large = _files(make_synthetic_dataset(tmp_path / "l", classes=("a", "b"), per_class=6, size=32, manifest=True).root)
    assert len(large) == 13
    assert all(large[name] == data for name, data in small.items())


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"classes": ()}, "empty"),
        ({"classes": ("a", "a")}, "duplicate"),
        ({"classes": ("Nevus", "nevus")}, "duplicate"),
        ({"classes": ("a/b", "c")}, "'a/b' is not a valid folder name"),
        ({"classes": (".", "c")}, "'.' is not a valid folder name"),
        ({"classes": ("..",)}, "'..' is not a valid folder name"),
        ({"classes": ("", "c")}, "valid folder name"),
        ({"classes": "benign"}, "sequence"),
        ({"per_class": 0}, "per_class"),
        ({"size": 15}, "size must be an integer >= 16"),
        ({"seed": -1}, "seed"),
        ({"image_format": "gif"}, "valid formats are: jpg, png"),
    ],
)
def test_bad_arguments_raise_one_line_data_errors(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(DataError, match=re.escape(fragment)) as info:
        make_synthetic_dataset(out, **kwargs)
    assert isinstance(info.value, DermkitError)
    assert "\n" not in str(info.value)
    assert not out.exists()  # validated before anything is written


def test_out_must_not_be_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        make_synthetic_dataset(target, per_class=1)


def test_jpeg_alias_and_png_format(tmp_path: Path) -> None:
    make_synthetic_dataset(tmp_path / "j", classes=("a",), per_class=1, size=16, image_format="JPEG")
    make_synthetic_dataset(tmp_path / "p", classes=("a",), per_class=1, size=16, image_format="png")
    assert (tmp_path / "j" / "a" / "a_00000.jpg").is_file()
    assert (tmp_path / "p" / "a" / "a_00000.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- learnability


@pytest.mark.parametrize("num_classes", [2, 4, 7])
def test_classes_are_learnable_from_simple_colour_features(tmp_path: Path, num_classes: int) -> None:
    images, labels = _dataset(tmp_path, num_classes)
    features = np.stack([_colour_quantiles(image) for image in images])
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, stratify=labels, random_state=0
    )
    accuracy = _classifier().fit(x_train, y_train).score(x_test, y_test)
    assert accuracy >= 0.9, f"{num_classes} classes: held-out accuracy {accuracy:.3f}"
    # the same features with shuffled labels are at chance: the accuracy above comes from the classes
    shuffled = np.random.default_rng(0).permutation(labels)
    control = cross_val_score(_classifier(), features, shuffled, cv=5).mean()
    assert control < 1 / num_classes + 0.2


def test_background_alone_does_not_reveal_the_class(tmp_path: Path) -> None:
    images, labels = _dataset(tmp_path, 2)
    corners = np.stack([_corner_means(image) for image in images])
    accuracy = cross_val_score(_classifier(), corners, labels, cv=5).mean()
    assert accuracy < 0.7, f"corner pixels predict the class with accuracy {accuracy:.3f}"
