"""Synthetic acne faces with a known number of inflamed lesions, for the acne grading + counting task.

Each image is a frontal face-like ellipse on a muted backdrop: skin of a Fitzpatrick-like type 1-6 with soft shading
from a random light direction, a darker rim, pores and smooth texture, eyes and a mouth as shadows. On the skin lie
``count`` red, inflamed spots (papules) of varying radius with a faint red halo; no two spots touch, so each spot is
one red blob. The grade is uniform over the four Hayashi grades and the count uniform within the grade's range
(0-5, 6-20, 21-50, 51-60 with the default boundaries), so every grade is represented; the grade written to the
manifest is the one the count gives under the criterion (Hayashi et al., "Establishment of grading criteria for acne
severity", J. Dermatol. 2008), as in ACNE04 (Wu et al., "Joint Acne Image Grading and Counting via Label Distribution
Learning", ICCV 2019).

``make_synthetic_acne_dataset`` writes ``images/acne_<index:05d>.<ext>`` and ``manifest.csv`` of
``path,grade,count,patient_id,split``. Each image has its own generator seeded by ``(seed, image index)``, so the same
arguments give byte-identical files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dermkit.data.acne import GRADE_NAMES, HAYASHI_BOUNDARIES, grade_from_count
from dermkit.data.lesion_render import SKIN_RGB, grid, smooth_noise
from dermkit.data.splits import stratified_group_split
from dermkit.data.synthetic import IMAGE_FORMATS, MANIFEST_NAME, _patients
from dermkit.errors import DataError
from dermkit.fileio import write_bytes, write_csv

MANIFEST_HEADER = ("path", "grade", "count", "patient_id", "split")
MAX_COUNT = 60
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
_IMAGE_TAG, _PATIENT_STREAM = 3, 1000  # keep these streams apart from the lesion generator's
# Spot radius and the smallest gap between two spots, in units of half the image side (so the layout does not depend
# on the size): at 64 px a radius of 1.1-1.6 px and a gap of 1.8 px; at 96 px 1.6-2.4 px and 2.6 px.
_RADIUS, _GAP = (0.034, 0.05), 0.055
_RED = np.array([[200, 40, 46], [214, 52, 50], [190, 36, 54]], np.float32)  # papule reds


@dataclass(frozen=True)
class AcneSynthSummary:
    """What :func:`make_synthetic_acne_dataset` wrote: the root, the manifest and images per grade name."""

    root: Path
    manifest: Path
    grade_counts: dict[str, int]


def sample_count(
    rng: np.random.Generator, boundaries: Sequence[int] = HAYASHI_BOUNDARIES, max_count: int = MAX_COUNT
) -> int:
    """A lesion count whose grade is uniform over the grades and which is uniform within the grade's range.

    Args:
        rng: the generator.
        boundaries: the count-to-grade criterion (the largest count of each grade but the last).
        max_count: the largest count (of the last grade); must exceed the last boundary.

    Returns:
        A count in ``0..max_count``.
    """
    if max_count <= boundaries[-1]:
        raise DataError(f"max_count ({max_count}) must exceed the last grade boundary ({boundaries[-1]})")
    edges = [-1, *boundaries, max_count]
    grade = int(rng.integers(len(edges) - 1))
    return int(rng.integers(edges[grade] + 1, edges[grade + 1] + 1))


def _face(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Face ellipse centre and semi-axes in ``[-1, 1]`` image coordinates."""
    cx, cy, a, b = (float(v) for v in rng.uniform([-0.04, -0.03, 0.8, 0.9], [0.04, 0.03, 0.88, 0.97]))
    return cx, cy, a, b


def _features(face: tuple[float, float, float, float]) -> list[tuple[float, float, float, float, float]]:
    """Eyes and mouth as ``(x, y, half width, half height, darkening)``."""
    cx, cy, a, b = face
    eyes = [(cx + side * 0.36 * a, cy - 0.2 * b, 0.15 * a, 0.065 * b, 0.4) for side in (-1, 1)]
    return [*eyes, (cx, cy + 0.52 * b, 0.3 * a, 0.05 * b, 0.3)]


def _place_spots(rng: np.random.Generator, count: int, face: tuple[float, float, float, float]) -> np.ndarray:
    """``(count, 3)`` spot centres and radii (``[-1, 1]`` units) on the skin, no two within ``_GAP`` of touching.

    Random sequential placement: each spot is the first of a batch of uniform candidates that lies on the skin (not on
    the eyes or mouth, not on the face's rim) and keeps its distance from the spots already placed.
    """
    cx, cy, a, b = face
    keep_out = np.array([(x, y, w + 0.03, h + 0.03) for x, y, w, h, _ in _features(face)])
    spots = np.zeros((0, 3), np.float64)
    for _ in range(count):
        for _batch in range(200):
            x, y, r = rng.uniform([cx - a, cy - b, _RADIUS[0]], [cx + a, cy + b, _RADIUS[1]], (32, 3)).T
            ok = ((x - cx) / (a - r - 0.03)) ** 2 + ((y - cy) / (b - r - 0.03)) ** 2 <= 1
            ok &= ((((x[:, None] - keep_out[:, 0]) / keep_out[:, 2]) ** 2
                    + ((y[:, None] - keep_out[:, 1]) / keep_out[:, 3]) ** 2) > 1).all(1)  # fmt: skip
            distance = np.hypot(x[:, None] - spots[:, 0], y[:, None] - spots[:, 1])
            ok &= (distance >= spots[:, 2] + r[:, None] + _GAP).all(1)
            if ok.any():
                first = int(np.argmax(ok))
                spots = np.vstack([spots, [x[first], y[first], r[first]]])
                break
        else:  # never reached with MAX_COUNT spots (they cover under half of the skin)
            raise DataError(f"could not place {count} separate lesion spots on the face")
    return spots


def _draw_spot(img: np.ndarray, x: float, y: float, r: float, colour: np.ndarray, strength: float) -> None:
    """Blend an anti-aliased red disc with a faint halo (erythema) into ``img`` in place; all in pixels."""
    size = img.shape[0]
    reach = 2 * r + 2
    top, bottom = max(0, int(y - reach)), min(size, int(y + reach) + 1)
    left, right = max(0, int(x - reach)), min(size, int(x + reach) + 1)
    rows, cols = np.mgrid[top:bottom, left:right].astype(np.float32) + 0.5
    d = np.hypot(cols - x, rows - y)
    core = np.clip(r - d + 0.5, 0, 1) * strength
    halo = 0.12 * np.exp(-((np.clip(d - r, 0, None) / (0.5 * r)) ** 2))
    window = img[top:bottom, left:right]
    window += (colour - window) * np.maximum(core, halo)[..., None]


def _skin(rng: np.random.Generator, size: int, skin_type: int, face: tuple[float, float, float, float]) -> np.ndarray:
    """The shaded, textured face skin (RGB float32, the whole image) before lesions and backdrop."""
    xx, yy = grid(size)
    skin = SKIN_RGB[skin_type - 1] * rng.normal(1.0, 0.02, 3).astype(np.float32)
    img = skin * (1 + 0.035 * smooth_noise(rng, size, 9))[..., None]
    pores = (rng.uniform(size=(size, size)) < 0.04) * rng.uniform(0.05, 0.13, (size, size))
    img *= (1 - pores.astype(np.float32))[..., None]
    for x, y, w, h, dark in _features(face):
        shadow = np.clip(1.6 - np.hypot((xx - x) / w, (yy - y) / h), 0, 1)
        img *= (1 - dark * shadow)[..., None]
    return img


def render_acne_face(
    rng: np.random.Generator, count: int, size: int = 96, *, skin_type: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one synthetic face with ``count`` separate inflamed lesion spots.

    Args:
        rng: the generator all randomness is drawn from.
        count: the number of lesion spots (0 to about 60).
        size: the image side in pixels (at least 32).
        skin_type: a Fitzpatrick-like type 1..6 (e.g. shared by a patient's images); drawn at random if None.

    Returns:
        An RGB ``uint8`` image and the spots as ``(x, y, radius)`` in pixels (x to the right, y down).

    Shape:
        image ``(size, size, 3)``; spots ``(count, 3)``.

    Raises:
        DataError: for a negative count, a size below 32 or a skin type outside 1..6.
    """
    if count < 0 or size < 32:
        raise DataError(f"count must be >= 0 and size >= 32, got count={count}, size={size}")
    drawn = int(rng.integers(1, 7))
    if skin_type is not None and skin_type not in range(1, 7):
        raise DataError(f"skin_type must be 1..6, got {skin_type}")
    face = _face(rng)
    img = _skin(rng, size, drawn if skin_type is None else skin_type, face)
    xx, yy = grid(size)
    spots = _place_spots(rng, count, face)
    pixels = np.column_stack([(spots[:, :2] + 1) * size / 2, spots[:, 2] * size / 2])
    for x, y, r in pixels:
        colour = _RED[int(rng.integers(len(_RED)))] * float(rng.uniform(0.95, 1.05))
        _draw_spot(img, x, y, r, colour, float(rng.uniform(0.85, 0.95)))
    cx, cy, a, b = face
    rho = np.hypot((xx - cx) / a, (yy - cy) / b)
    light = float(rng.uniform(0, 2 * math.pi))
    shade = 1.04 + 0.08 * (math.cos(light) * (xx - cx) + math.sin(light) * (yy - cy)) - 0.2 * np.clip(rho, 0, 1) ** 3
    img *= shade[..., None]
    grey = float(rng.uniform(50, 190))
    backdrop = grey * np.array([0.92, 1.0, 1.06], np.float32) * rng.uniform(0.9, 1.05, 3).astype(np.float32)
    background = backdrop * (1 + 0.05 * smooth_noise(rng, size, 5))[..., None]
    alpha = np.clip((1 - rho) * min(a, b) * size / 2 / 1.5 + 0.5, 0, 1)[..., None]  # 1.5-px soft face edge
    img = background + (img - background) * alpha
    img += float(rng.uniform(1.0, 2.5)) * rng.standard_normal(img.shape, dtype=np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return image, pixels


def _check_arguments(n: int, size: int, seed: int, image_format: str) -> str:
    for what, value, low in (("n", n, 1), ("size", size, 32), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"{what} must be an integer >= {low}, got {value!r}")
    ext = str(image_format).lower().lstrip(".").replace("jpeg", "jpg")
    if ext not in IMAGE_FORMATS:
        raise DataError(f"unknown image_format {image_format!r}; valid formats are: {', '.join(IMAGE_FORMATS)}")
    return ext


def make_synthetic_acne_dataset(
    out: str | Path,
    n: int = 200,
    size: int = 96,
    seed: int = 0,
    image_format: str = "png",
    *,
    boundaries: Sequence[int] = HAYASHI_BOUNDARIES,
    grade_names: Sequence[str] = GRADE_NAMES,
    max_count: int = MAX_COUNT,
) -> AcneSynthSummary:
    """Write ``out/images/acne_<index:05d>.<ext>`` and ``out/manifest.csv`` (``path,grade,count,patient_id,split``).

    Runs of 1-3 images share a patient (and a skin type); the split is 70/15/15 train/val/test, stratified by grade
    and never splitting a patient. Existing files of the same names are overwritten.

    Args:
        out: the dataset root (created if missing).
        n: number of images (at least 1).
        size: image side in pixels (at least 32; 64-96 keeps the spots countable).
        seed: a non-negative integer; the same arguments give byte-identical files.
        image_format: ``"png"`` (lossless; small red spots survive) or ``"jpg"`` (quality 95).
        boundaries: the count-to-grade criterion the manifest's grades follow.
        grade_names: one name per grade, in severity order (``len(boundaries) + 1`` names).
        max_count: the largest lesion count drawn.

    Returns:
        An :class:`AcneSynthSummary` of what was written.

    Raises:
        DataError: for an invalid ``n``, ``size``, ``seed``, ``image_format``, grade names or ``out``.
    """
    ext = _check_arguments(n, size, seed, image_format)
    names = list(grade_names)
    if len(names) != len(boundaries) + 1:
        raise DataError(f"{len(boundaries)} grade boundaries need {len(boundaries) + 1} grade names, got {names}")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    patients = _patients(int(seed), _PATIENT_STREAM, int(n))
    rows, grades = [], []
    for i, (patient, skin_type) in enumerate(patients):
        rng = np.random.default_rng([int(seed), i, _IMAGE_TAG])
        count = sample_count(rng, boundaries, max_count)
        image, _ = render_acne_face(rng, count, int(size), skin_type=skin_type)
        ok, encoded = cv2.imencode(f".{ext}", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise DataError(f"{root}: OpenCV could not encode a {ext} image")
        name = f"images/acne_{i:05d}.{ext}"
        write_bytes(root / name, encoded.tobytes())
        grades.append(grade_from_count(count, boundaries))
        rows.append([name, names[grades[-1]], count, f"P{patient + 1:05d}"])
    splits = stratified_group_split(grades, SPLIT_FRACTIONS, groups=[row[3] for row in rows], seed=int(seed))
    manifest = write_csv(
        root / MANIFEST_NAME, MANIFEST_HEADER, [[*row, s] for row, s in zip(rows, splits, strict=True)]
    )
    return AcneSynthSummary(root, manifest, {name: grades.count(g) for g, name in enumerate(names)})
