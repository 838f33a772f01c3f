"""Synthetic dermoscopy-like datasets for the demo and the test-suite: class folders of lesions drawn by
:func:`dermkit.data.lesion_render.render_lesion`, with an optional manifest of patients and skin types.

Each image has its own generator seeded by ``(seed, class index, image index)``: an image does not depend on how many
images come before it, and the same arguments give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dermkit.data.lesion_render import SKIN_P, render_lesion
from dermkit.errors import DataError
from dermkit.fileio import make_folder, write_bytes, write_csv

IMAGE_FORMATS = ("jpg", "png")
MANIFEST_NAME = "manifest.csv"
MANIFEST_HEADER = ("path", "label", "patient_id", "fitzpatrick")
_IMAGE_TAG, _PATIENT_TAG = 1, 2  # non-zero last seed words keep the image and patient streams apart


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`make_synthetic_dataset` wrote: the root, class names, images per class and the manifest path."""

    root: Path
    class_names: list[str]
    counts: dict[str, int]
    manifest: Path | None


def _check_classes(classes: Sequence[str], manifest: bool) -> list[str]:
    if isinstance(classes, str) or not all(isinstance(name, str) for name in classes):
        raise DataError(f"classes must be a sequence of class-name strings, got {classes!r}")
    names = list(classes)
    if not names:
        raise DataError("classes is empty; give at least one class name")
    for name in names:
        if name in ("", ".", "..") or any(ch in name for ch in "/\\\0") or name != name.strip():
            raise DataError(f"class name {name!r} is not a valid folder name")
        if manifest and name == MANIFEST_NAME:
            raise DataError(f"class name {name!r} clashes with the manifest file")
    folded = [name.casefold() for name in names]
    duplicates = sorted({name for name in names if folded.count(name.casefold()) > 1})
    if duplicates:
        raise DataError(f"duplicate class names (ignoring case): {', '.join(duplicates)}")
    return names


def _patients(seed: int, class_index: int, count: int) -> list[tuple[int, int]]:
    """``(patient number within the class, skin type)`` per image: runs of 1-3 images share one patient."""
    rng = np.random.default_rng([seed, class_index, _PATIENT_TAG])
    out: list[tuple[int, int]] = []
    patient = 0
    while len(out) < count:
        group, skin_type = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25])), int(rng.choice(6, p=SKIN_P)) + 1
        out.extend([(patient, skin_type)] * group)
        patient += 1
    return out[:count]


def make_synthetic_dataset(
    out: str | Path,
    classes: Sequence[str] = ("benign", "malignant"),
    per_class: int | Sequence[int] = 100,
    size: int = 128,
    seed: int = 0,
    image_format: str = "jpg",
    manifest: bool = False,
) -> SyntheticSummary:
    """Write a class-folder dataset ``out/<class>/<class>_<index:05d>.<ext>`` of synthetic lesions.

    Images of one class come in runs of 1-3 per patient, and a patient's images share one skin type. Existing files
    of the same names are overwritten.

    Args:
        out: the dataset root (created if missing).
        classes: class names, benign-like first and malignant-like last; each is a folder name.
        per_class: images per class (at least 1), or one count per class (a long tail: :func:`long_tail_counts`).
        size: image side in pixels (at least 16).
        seed: a non-negative integer; the same arguments give byte-identical files.
        image_format: ``"jpg"`` (quality 95) or ``"png"``.
        manifest: also write ``out/manifest.csv`` with columns ``path,label,patient_id,fitzpatrick``.

    Returns:
        A :class:`SyntheticSummary` of what was written.

    Raises:
        DataError: for invalid class names, ``per_class``, ``size``, ``seed``, ``image_format`` or ``out``.
    """
    names = _check_classes(classes, manifest)
    counts = [per_class] * len(names) if isinstance(per_class, (int, np.integer)) else list(per_class)
    if len(counts) != len(names):
        raise DataError(f"per_class has {len(counts)} counts for {len(names)} classes")
    for what, value, low in (*(("per_class", n, 1) for n in counts), ("size", size, 16), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"{what} must be an integer >= {low}, got {value!r}")
    ext = str(image_format).lower().lstrip(".").replace("jpeg", "jpg")
    if ext not in IMAGE_FORMATS:
        raise DataError(f"unknown image_format {image_format!r}; valid formats are: {', '.join(IMAGE_FORMATS)}")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    rows: list[tuple[str, str, str, int]] = []
    first_patient = 1
    for k, name in enumerate(names):
        folder = root / name
        make_folder(folder)
        patients = _patients(int(seed), k, int(counts[k]))
        for i, (patient, skin_type) in enumerate(patients):
            rng = np.random.default_rng([int(seed), k, i, _IMAGE_TAG])
            image, _ = render_lesion(rng, k, len(names), int(size), fitzpatrick=skin_type)
            ok, encoded = cv2.imencode(f".{ext}", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise DataError(f"{folder}: OpenCV could not encode a {ext} image")
            filename = f"{name}_{i:05d}.{ext}"
            write_bytes(folder / filename, encoded.tobytes())  # atomic: a full disk leaves no half image
            rows.append((f"{name}/{filename}", name, f"P{first_patient + patient:05d}", skin_type))
        first_patient += patients[-1][0] + 1
    manifest_path = write_csv(root / MANIFEST_NAME, MANIFEST_HEADER, rows) if manifest else None
    return SyntheticSummary(root, names, {name: int(n) for name, n in zip(names, counts, strict=True)}, manifest_path)


def long_tail_counts(num_classes: int, head: int, imbalance: float) -> list[int]:
    """Images per class of an exponentially long-tailed set: ``head * imbalance ** (-k / (C - 1))`` for class k.

    The profile of the long-tailed CIFAR benchmarks (Cui et al., "Class-balanced loss based on effective number of
    samples", CVPR 2019; Cao et al., "Learning imbalanced datasets with label-distribution-aware margin loss",
    NeurIPS 2019): class 0 has ``head`` images and the last class ``head / imbalance`` (rounded, at least 1).

    Args:
        num_classes: C >= 1.
        head: images of the largest class (>= 1).
        imbalance: largest over smallest class size (>= 1).

    Returns:
        C counts, non-increasing.

    Raises:
        DataError: for C < 1, head < 1 or imbalance < 1.
    """
    if num_classes < 1 or head < 1 or not imbalance >= 1:
        raise DataError(
            f"a long tail needs classes >= 1, head >= 1 and imbalance >= 1, got {num_classes}, {head}, {imbalance}"
        )
    steps = np.arange(num_classes) / max(1, num_classes - 1)
    return [max(1, round(head * float(imbalance) ** -step)) for step in steps]
