"""Drawing one synthetic dermoscopy-like lesion: :func:`render_lesion`, used by :mod:`dermkit.data.synthetic`.

The class-dependent features mimic the dermoscopic ABCD rule (Asymmetry, Border, Colour, Differential structures;
Stolz et al., 1994). Class ``k`` of ``n`` is placed at ``t = k / (n - 1)`` on a benign-to-malignant axis:

* ``t = 0``: light or medium brown, round or oval lesion with a smooth, fading border and homogeneous pigment.
* ``t = 1``: dark brown to black, asymmetric lesion with an irregular, abrupt border (radial Fourier noise) and
  variegated blotches of black, blue-grey and red.

With more than two classes every class also gets its own hue offset and differential structure (homogeneous,
globules, pigment network or streaks), so that every pair of classes can be told apart. Lesion size, position,
aspect and rotation vary within a class. Class-independent nuisances: skin tone of a Fitzpatrick-like type 1-6,
hair strokes (in about 40 % of images), dermoscope vignette, a lighting gradient, slight blur and noise. Every
operation is per-pixel or sequential, so the result does not depend on OpenCV's thread count.
"""

from __future__ import annotations

import colorsys
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from dermkit.errors import DataError

#: Mean skin colour (RGB) of Fitzpatrick-like types 1..6, and how often each type is drawn.
SKIN_RGB = np.array(
    [[242, 212, 194], [228, 188, 158], [206, 160, 122], [172, 124, 88], [130, 90, 62], [88, 60, 45]], np.float32
)
SKIN_P = np.array([0.15, 0.25, 0.25, 0.15, 0.1, 0.1])
_BENIGN_RGB = np.array([172, 116, 74], np.float32)
_MALIGNANT_RGB = np.array([74, 46, 34], np.float32)
_BLACK, _BLUE_GREY, _RED = (np.array(c, np.float32) for c in ((24, 18, 18), (100, 114, 142), (176, 66, 66)))
_PATTERNS = ("homogeneous", "globules", "network", "streaks")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@functools.lru_cache(maxsize=8)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only pixel-centre coordinates ``(x, y)`` in ``[-1, 1]``."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    xx, yy = np.meshgrid(axis, axis)
    xx.flags.writeable = yy.flags.writeable = False
    return xx, yy


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance smooth noise: a random ``cells x cells`` grid upsampled to ``size x size``."""
    field = cv2.resize(
        rng.standard_normal((cells, cells), dtype=np.float32), (size, size), interpolation=cv2.INTER_CUBIC
    )
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


@dataclass
class _Outline:
    """The lesion's shape in image coordinates ([-1, 1]): centre, mean radius, the rotated coordinates ``u, v``, polar
    ``rho, phi``, the border radius over 720 angles, the opacity ``alpha`` and ``rel`` (0 at the centre, 1 on the
    border)."""

    cx: float
    cy: float
    radius: float
    u: np.ndarray
    v: np.ndarray
    rho: np.ndarray
    phi: np.ndarray
    border: np.ndarray
    alpha: np.ndarray
    rel: np.ndarray


def _outline(rng: np.random.Generator, t: float, size: int) -> _Outline:
    """Asymmetry and border: an ellipse whose radius is modulated by a random Fourier series over the angle."""
    xx, yy = grid(size)
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
    return _Outline(cx, cy, radius, u, v, rho, phi, border, alpha, rho / edge_r)


def _pigment(rng: np.random.Generator, t: float, pigment: np.ndarray, skin: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Colour: pigment darker than the skin around it, darker centre, blotches and patches growing with t."""
    size = rel.shape[0]
    pigment = pigment * min(1.0, 0.75 * float(skin @ _LUMA) / float(pigment @ _LUMA))
    shade = (0.82 + 0.18 * np.clip(rel, 0, 1)) * (1 + (0.04 + 0.22 * t) * smooth_noise(rng, size, 9))
    lesion = pigment * shade[..., None]
    threshold = 1.6 - 0.8 * t
    for colour, cells, strength in ((_BLACK, 9, 0.9), (_BLUE_GREY, 6, 0.7), (_RED, 7, 0.5)):
        patch = np.clip((smooth_noise(rng, size, cells) - threshold) * 2.5, 0, 1) * (strength * t)
        lesion += (colour - lesion) * patch[..., None]
    return lesion


def _structures(rng: np.random.Generator, pattern: str, lesion: np.ndarray, shape: _Outline) -> np.ndarray:
    """Differential structures (only with more than two classes): darkens ``lesion`` in place; returns the opacity
    (streaks reach past the border)."""
    size, inside, alpha = lesion.shape[0], np.clip(1.1 - shape.rel, 0, 1), shape.alpha
    if pattern == "globules":
        dots = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(8, 18))):
            r, a = shape.radius * 0.85 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            px, py = (shape.cx + r * np.cos(a) + 1) * size / 2, (shape.cy + r * np.sin(a) + 1) * size / 2
            dot_r = max(1, round(size * rng.uniform(0.012, 0.028)))
            cv2.circle(dots, (round(px * 16), round(py * 16)), dot_r * 16, 255, -1, cv2.LINE_AA, 4)
        lesion *= 1 - 0.55 * (dots.astype(np.float32) / 255 * inside)[..., None]
    elif pattern == "network":
        freq, warp = float(rng.uniform(7.0, 9.5)) * math.pi, 0.05 * smooth_noise(rng, size, 8)
        lines = np.ones_like(shape.u)
        for turn in (0.0, np.pi / 3, 2 * np.pi / 3):  # three directions give a honeycomb-like mesh
            lines = np.minimum(
                lines, np.abs(np.sin(freq * (shape.u * math.cos(turn) + shape.v * math.sin(turn) + warp)))
            )
        lesion *= 1 - 0.55 * (np.clip(1 - lines / 0.3, 0, 1) * inside)[..., None]
    elif pattern == "streaks":
        rel = shape.rel
        rays = np.clip((np.cos(int(rng.integers(16, 26)) * shape.phi + float(rng.uniform(0, 6.3))) - 0.55) * 3, 0, 1)
        reach = 1.1 + 0.35 * smooth_noise(rng, size, 4).clip(-1, 1)  # uneven streak length around the lesion
        streak = rays * np.clip((rel - 0.55) * 4, 0, 1) * np.clip((reach - rel) * 5, 0, 1)
        alpha = np.maximum(alpha, streak)
        lesion *= 1 - 0.35 * streak[..., None]
    return alpha


def _hair(rng: np.random.Generator, img: np.ndarray) -> int:
    """Hair strokes (quadratic Bézier curves) in about 40 % of images, drawn into ``img``; returns how many."""
    if not rng.uniform() < 0.4:
        return 0
    size, count = img.shape[0], int(rng.integers(2, 13))
    mask = np.zeros((size, size), np.uint8)
    steps = np.linspace(0, 1, 24)[:, None]
    for _ in range(count):
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
    return count


def _optics(rng: np.random.Generator, img: np.ndarray) -> tuple[np.ndarray, float]:
    """Lighting gradient, vignette, blur and noise; returns the uint8 image and the vignette strength."""
    size = img.shape[0]
    xx, yy = grid(size)
    light, light_dir, vignette, start, blur, noise = (
        float(x) for x in rng.uniform([0, 0, 0.35, 0.8, 0.4, 1.0], [0.14, 6.3, 0.95, 1.1, 0.9, 3.5])
    )
    img *= (1 + light * (math.cos(light_dir) * xx + math.sin(light_dir) * yy))[..., None]
    img *= (1 - vignette * np.clip((np.hypot(xx, yy) - start) / 0.45, 0, 1) ** 1.5)[..., None]
    img = cv2.GaussianBlur(img, (0, 0), blur * size / 128)
    img += noise * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), vignette


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
    drawn_type = int(rng.choice(6, p=SKIN_P)) + 1  # always drawn, so forcing a type changes nothing else
    if fitzpatrick is not None and fitzpatrick not in range(1, 7):
        raise DataError(f"fitzpatrick must be a skin type 1..6, got {fitzpatrick}")
    skin_type = drawn_type if fitzpatrick is None else int(fitzpatrick)
    t, pigment, pattern = _class_style(class_index, num_classes)
    skin = SKIN_RGB[skin_type - 1] * rng.normal(1.0, 0.03, 3).astype(np.float32)
    img = skin * (1 + 0.04 * smooth_noise(rng, size, 7))[..., None]
    shape = _outline(rng, t, size)
    lesion = _pigment(rng, t, pigment, skin, shape.rel)
    alpha = _structures(rng, pattern, lesion, shape)
    img += (lesion - img) * alpha[..., None]
    hair_count = _hair(rng, img)
    image, vignette = _optics(rng, img)
    attributes: dict[str, object] = {"class_index": class_index, "t": t, "pattern": pattern, "fitzpatrick": skin_type}
    attributes.update(hair=hair_count > 0, hair_count=hair_count)
    attributes.update(center=((shape.cx + 1) * size / 2, (shape.cy + 1) * size / 2), radius=shape.radius * size / 2)
    attributes.update(irregularity=float(np.std(shape.border) / np.mean(shape.border)), vignette=vignette)
    return image, attributes
