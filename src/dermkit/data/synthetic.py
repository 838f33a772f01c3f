"""Synthetic dermoscopy-like images for the demo and the test-suite.

Each image shows one pigmented lesion on skin. The class-dependent features mimic the dermoscopic ABCD rule
(Asymmetry, Border, Colour, Differential structures; Stolz et al., 1994). Class ``k`` of ``n`` is placed at
``t = k / (n - 1)`` on a benign-to-malignant axis:

* ``t = 0``: light or medium brown, round or oval lesion with a smooth, fading border and homogeneous pigment.
* ``t = 1``: dark brown to black, asymmetric lesion with an irregular, abrupt border (radial Fourier noise) and
  variegated blotches of black, blue-grey and red.

With more than two classes every class also gets its own hue offset and differential structure (homogeneous,
globules, pigment network or streaks), so that every pair of classes can be told apart. Lesion size, position,
aspect and rotation vary within a class. Class-independent nuisances: skin tone of a Fitzpatrick-like type 1-6,
hair strokes (in about 40 % of images), dermoscope vignette, a lighting gradient, slight blur and noise.

Each image has its own generator seeded by ``(seed, class index, image index)``: an image does not depend on how many
images come before it, and the same arguments give byte-identical files. Every operation is per-pixel or sequential,
so the result does not depend on OpenCV's thread count.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dermkit.errors import DataError
from dermkit.fileio import make_folder, write_bytes, write_csv

IMAGE_FORMATS = ("jpg", "png")
MANIFEST_NAME = "manifest.csv"
MANIFEST_HEADER = ("path", "label", "patient_id", "fitzpatrick")
#: Mean skin colour (RGB) of Fitzpatrick-like types 1..6, and how often each type is drawn.
_SKIN_RGB = np.array(
    [[242, 212, 194], [228, 188, 158], [206, 160, 122], [172, 124, 88], [130, 90, 62], [88, 60, 45]], np.float32
)
_SKIN_P = np.array([0.15, 0.25, 0.25, 0.15, 0.1, 0.1])
_BENIGN_RGB = np.array([172, 116, 74], np.float32)
_MALIGNANT_RGB = np.array([74, 46, 34], np.float32)
_BLACK, _BLUE_GREY, _RED = (np.array(c, np.float32) for c in ((24, 18, 18), (100, 114, 142), (176, 66, 66)))
_PATTERNS = ("homogeneous", "globules", "network", "streaks")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_IMAGE_TAG, _PATIENT_TAG = 1, 2  # non-zero last seed words keep the image and patient streams apart


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`make_synthetic_dataset` wrote: the root, class names, images per class and the manifest path."""

    root: Path
    class_names: list[str]
    counts: dict[str, int]
    manifest: Path | None


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only pixel-centre coordinates ``(x, y)`` in ``[-1, 1]``."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    xx, yy = np.meshgrid(axis, axis)
    xx.flags.writeable = yy.flags.writeable = False
    return xx, yy


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance smooth noise: a random ``cells x cells`` grid upsampled to ``size x size``."""
    grid = rng.standard_normal((cells, cells), dtype=np.float32)
    field = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def _class_style(class_index: int, num_classes: int) -> tuple[float, np.ndarray, str]:
    """Position ``t`` on the benign-malignant axis, base pigment colour (RGB) and differential structure."""
    t = class_index / (num_classes - 1) if num_classes > 1 else 0.0
    pigment = (1 - t) * _BENIGN_RGB + t * _MALIGNANT_RGB
    if num_classes <= 2:
        return t, pigment, "homogeneous"
    hue, sat, val = colorsys.rgb_to_hsv(*(pigment / 255).tolist())
    shift = ((class_index * 0.618034 + 0.6) % 1.0 - 0.6) * 0.09  # golden-ratio spacing: 0 for class 0, -19..+14 deg
    rgb = colorsys.hsv_to_rgb((hue + shift) % 1.0, min(1.0, sat * (1 + 0.15 * (class_index % 2))), val)
    return t, np.array(rgb, np.float32) * 255, _PATTERNS[class_index % len(_PATTERNS)]


def render_lesion(
    rng: np.random.Generator, class_index: int, num_classes: int, size: int = 128, *, fitzpatrick: int | None = None
) -> tuple[np.ndarray, dict[str, object]]:
    """Draw one synthetic dermoscopy image.

    Args:
        rng: the generator all randomness is drawn from.
        class_index: the class ``k`` in ``0..num_classes-1``; its appearance is set by ``t = k / (num_classes - 1)``.
        num_classes: how many classes the task has.
        size: the image side in pixels (at least 16).
        fitzpatrick: force a skin type 1..6 (e.g. the same for all images of a patient); drawn at random if None.

    Returns:
        An RGB ``uint8`` array of shape ``(size, size, 3)`` and its attributes: ``class_index``, ``t``, ``pattern``,
        ``fitzpatrick``, ``hair`` (bool), ``hair_count``, ``center`` and ``radius`` (pixels), ``irregularity`` (relative
        spread of the border radius) and ``vignette`` (strength 0..1).

    Raises:
        DataError: for a class index outside ``0..num_classes-1``, a size below 16 or a skin type outside 1..6.
    """
    if num_classes < 1 or not 0 <= class_index < num_classes:
        raise DataError(f"class_index must be in 0..num_classes-1, got {class_index} with num_classes={num_classes}")
    if size < 16:
        raise DataError(f"size must be at least 16 pixels, got {size}")
    drawn_type = int(rng.choice(6, p=_SKIN_P)) + 1  # always drawn, so forcing a type changes nothing else
    if fitzpatrick is not None and fitzpatrick not in range(1, 7):
        raise DataError(f"fitzpatrick must be a skin type 1..6, got {fitzpatrick}")
    skin_type = drawn_type if fitzpatrick is None else int(fitzpatrick)
    t, pigment, pattern = _class_style(class_index, num_classes)
    xx, yy = _grid(size)

    skin = _SKIN_RGB[skin_type - 1] * rng.normal(1.0, 0.03, 3).astype(np.float32)
    img = skin * (1 + 0.04 * _smooth_noise(rng, size, 7))[..., None]

    # Asymmetry and border: an ellipse whose radius is modulated by a random Fourier series over the angle.
    # Python floats (not numpy float64 scalars) keep the image arithmetic in float32.
    cx, cy, radius, aspect, angle = (
        float(x) for x in rng.uniform([-0.16, -0.16, 0.36, 1.0, 0], [0.16, 0.16, 0.54, 1.35, 6.3])
    )
    u = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
    v = (yy - cy) * math.cos(angle) - (xx - cx) * math.sin(angle)
    rho, phi = np.hypot(u / aspect, v), np.arctan2(v, u / aspect)
    orders = np.arange(1, 13)
    amps = (0.015 + 0.14 * t) * rng.uniform(0.4, 1.0, orders.size) / orders ** (1.2 - 0.7 * t)
    thetas = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    wave = (amps[:, None] * np.cos(orders[:, None] * thetas + rng.uniform(0, 2 * np.pi, (orders.size, 1)))).sum(0)
    border = (radius * np.clip(1 + wave, 0.35, None)).astype(np.float32)
    edge_r = border[((phi + np.pi) / (2 * np.pi) * thetas.size).astype(np.int64) % thetas.size]
    softness = 0.06 - 0.04 * t  # benign lesions fade out, malignant ones stop abruptly
    alpha = np.clip((edge_r - rho) / softness + 0.5, 0, 1)
    rel = rho / edge_r  # 0 at the centre, 1 on the border

    # Colour: pigment darker than the skin around it, darker centre, blotches and patches growing with t.
    pigment = pigment * min(1.0, 0.75 * float(skin @ _LUMA) / float(pigment @ _LUMA))
    shade = (0.82 + 0.18 * np.clip(rel, 0, 1)) * (1 + (0.04 + 0.22 * t) * _smooth_noise(rng, size, 9))
    lesion = pigment * shade[..., None]
    threshold = 1.6 - 0.8 * t
    for colour, cells, strength in ((_BLACK, 9, 0.9), (_BLUE_GREY, 6, 0.7), (_RED, 7, 0.5)):
        patch = np.clip((_smooth_noise(rng, size, cells) - threshold) * 2.5, 0, 1) * (strength * t)
        lesion += (colour - lesion) * patch[..., None]

    # Differential structures (only with more than two classes).
    inside = np.clip(1.1 - rel, 0, 1)
    if pattern == "globules":
        dots = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(8, 18))):
            r, a = radius * 0.85 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            px, py = (cx + r * np.cos(a) + 1) * size / 2, (cy + r * np.sin(a) + 1) * size / 2
            dot_r = max(1, round(size * rng.uniform(0.012, 0.028)))
            cv2.circle(dots, (round(px * 16), round(py * 16)), dot_r * 16, 255, -1, cv2.LINE_AA, 4)
        lesion *= 1 - 0.55 * (dots.astype(np.float32) / 255 * inside)[..., None]
    elif pattern == "network":
        freq, warp = float(rng.uniform(7.0, 9.5)) * math.pi, 0.05 * _smooth_noise(rng, size, 8)
        lines = np.ones_like(u)
        for turn in (0.0, np.pi / 3, 2 * np.pi / 3):  # three directions give a honeycomb-like mesh
            lines = np.minimum(lines, np.abs(np.sin(freq * (u * math.cos(turn) + v * math.sin(turn) + warp))))
        lesion *= 1 - 0.55 * (np.clip(1 - lines / 0.3, 0, 1) * inside)[..., None]
    elif pattern == "streaks":
        rays = np.clip((np.cos(int(rng.integers(16, 26)) * phi + float(rng.uniform(0, 6.3))) - 0.55) * 3, 0, 1)
        reach = 1.1 + 0.35 * _smooth_noise(rng, size, 4).clip(-1, 1)  # uneven streak length around the lesion
        streak = rays * np.clip((rel - 0.55) * 4, 0, 1) * np.clip((reach - rel) * 5, 0, 1)
        alpha = np.maximum(alpha, streak)
        lesion *= 1 - 0.35 * streak[..., None]
    img += (lesion - img) * alpha[..., None]

    # Nuisances: hair, lighting gradient, vignette, blur and noise.
    hair = bool(rng.uniform() < 0.4)
    hair_count = int(rng.integers(2, 13)) if hair else 0
    if hair:
        mask = np.zeros((size, size), np.uint8)
        steps = np.linspace(0, 1, 24)[:, None]
        for _ in range(hair_count):
            start = rng.uniform(-1.1, 1.1, 2)
            direction = rng.uniform(0, 2 * np.pi)
            end = start + rng.uniform(0.5, 1.8) * np.array([np.cos(direction), np.sin(direction)])
            bend = (start + end) / 2 + rng.normal(0, 0.25, 2)
            curve = (1 - steps) ** 2 * start + 2 * (1 - steps) * steps * bend + steps**2 * end
            points = np.round((curve + 1) * size / 2 * 16).astype(np.int32)
            width = max(1, round(size / 128 * rng.choice([1, 1, 2])))
            cv2.polylines(mask, [points], False, 255, width, cv2.LINE_AA, 4)
        hair_rgb = np.array([38, 30, 26], np.float32) * float(rng.uniform(0.7, 1.2))
        img += (hair_rgb - img) * (0.9 * mask.astype(np.float32) / 255)[..., None]
    light, light_dir, vignette, start, blur, noise = (
        float(x) for x in rng.uniform([0, 0, 0.35, 0.8, 0.4, 1.0], [0.14, 6.3, 0.95, 1.1, 0.9, 3.5])
    )
    img *= (1 + light * (math.cos(light_dir) * xx + math.sin(light_dir) * yy))[..., None]
    img *= (1 - vignette * np.clip((np.hypot(xx, yy) - start) / 0.45, 0, 1) ** 1.5)[..., None]
    img = cv2.GaussianBlur(img, (0, 0), blur * size / 128)
    img += noise * rng.standard_normal(img.shape, dtype=np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    attributes: dict[str, object] = {"class_index": class_index, "t": t, "pattern": pattern, "fitzpatrick": skin_type}
    attributes.update(hair=hair, hair_count=hair_count, center=((cx + 1) * size / 2, (cy + 1) * size / 2))
    attributes.update(radius=radius * size / 2, irregularity=float(np.std(border) / np.mean(border)), vignette=vignette)
    return image, attributes


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
        group, skin_type = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25])), int(rng.choice(6, p=_SKIN_P)) + 1
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
