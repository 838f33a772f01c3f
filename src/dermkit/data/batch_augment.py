"""Augmentation of whole batches of uint8 images: crop, the dihedral flips/rotations, brightness/contrast, normalise.

The batched twins of the albumentations presets whose steps need no per-image resampling (``none``, ``light``,
``flips``; :mod:`dermkit.data.transforms`). Random choices are drawn for the whole batch at once
(:func:`draw`), then each step is one array operation on the batch (:func:`augment`), so a batch of 256 small images
costs about as much as one large one. Given the same draws the result equals the albumentations preset applied image
by image (``RandomCrop``/``CenterCrop``, ``D4``, ``RandomBrightnessContrast`` on uint8, ``Normalize``), to float
rounding. Presets with affine warps or colour shifts (``skin_classifier``, ``two_class``) stay per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dermkit.registry import Registry

#: The eight symmetries of the square, named and ordered as albumentations' ``D4`` names them.
D4_ELEMENTS = ("e", "r90", "r180", "r270", "v", "hvt", "h", "t")


@dataclass(frozen=True)
class BatchPreset:
    """What a batched preset does.

    Attributes:
        random_crop: crop at a random place (else the centre).
        d4: apply one of the 8 flips/rotations, uniformly.
        brightness: brightness limit (a fraction of 255), as ``RandomBrightnessContrast(brightness_limit=...)``.
        contrast: contrast limit, as ``RandomBrightnessContrast(contrast_limit=...)``.
        p_color: probability of the brightness/contrast change.
    """

    random_crop: bool = False
    d4: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    p_color: float = 0.0


BATCH_PRESETS: Registry[BatchPreset] = Registry("batched transform preset")
BATCH_PRESETS.register("none", BatchPreset())
BATCH_PRESETS.register("light", BatchPreset(random_crop=True, d4=True, brightness=0.1, contrast=0.1, p_color=0.5))
BATCH_PRESETS.register("flips", BatchPreset(random_crop=True, d4=True))


@dataclass(frozen=True)
class BatchDraws:
    """The random choices for one batch, one entry per image (None where the preset draws nothing).

    Attributes:
        top: (B,) crop rows.
        left: (B,) crop columns.
        d4: (B,) indices into :data:`D4_ELEMENTS`.
        alpha: (B,) contrast factors (1 where no change was drawn).
        beta: (B,) brightness offsets in pixel levels (0 where no change was drawn).
    """

    top: np.ndarray
    left: np.ndarray
    d4: np.ndarray | None = None
    alpha: np.ndarray | None = None
    beta: np.ndarray | None = None


def draw(preset: BatchPreset | None, shapes: np.ndarray, size: int, rng: np.random.Generator) -> BatchDraws:
    """Draw one batch's choices for images of ``shapes`` ((B, 2) heights and widths) cropped to ``size``; a None
    preset (evaluation) crops the centre."""
    heights, widths = shapes[:, 0].astype(np.int64), shapes[:, 1].astype(np.int64)
    if preset is None or not preset.random_crop:
        top, left = (heights - size) // 2, (widths - size) // 2
    else:
        top, left = rng.integers(0, heights - size + 1), rng.integers(0, widths - size + 1)
    if preset is None:
        return BatchDraws(top, left)
    count = len(shapes)
    d4 = rng.integers(0, len(D4_ELEMENTS), count) if preset.d4 else None
    alpha = beta = None
    if preset.p_color > 0:
        applied = rng.random(count) < preset.p_color
        alpha = np.where(applied, 1.0 + rng.uniform(-preset.contrast, preset.contrast, count), 1.0)
        beta = np.where(applied, rng.uniform(-preset.brightness, preset.brightness, count) * 255.0, 0.0)
    return BatchDraws(top, left, d4, alpha, beta)


def crop(images: np.ndarray | Sequence[np.ndarray], top: np.ndarray, left: np.ndarray, size: int) -> np.ndarray:
    """Crop image ``i`` at (``top[i]``, ``left[i]``) to ``size`` x ``size``.

    Shape:
        images: (B, H, W, 3) uint8, or a sequence of (H_i, W_i, 3) images of different shapes. Returns
        (B, size, size, 3) uint8.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        if np.all(top == top[0]) and np.all(left == left[0]):  # the centre crop of equal images: one slice
            return np.ascontiguousarray(images[:, top[0] : top[0] + size, left[0] : left[0] + size])
        steps = np.arange(size)
        rows, cols = top[:, None] + steps, left[:, None] + steps  # (B, size) each: one gather for the batch
        return images[np.arange(len(images))[:, None, None], rows[:, :, None], cols[:, None, :]]
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):  # images of different shapes: a slice each
        out[i] = image[top[i] : top[i] + size, left[i] : left[i] + size]
    return out


_D4_OPS = {
    "e": lambda x: x,
    "r90": lambda x: torch.rot90(x, 1, (1, 2)),
    "r180": lambda x: torch.rot90(x, 2, (1, 2)),
    "r270": lambda x: torch.rot90(x, 3, (1, 2)),
    "v": lambda x: x.flip(1),
    "hvt": lambda x: torch.rot90(x, 2, (1, 2)).transpose(1, 2),
    "h": lambda x: x.flip(2),
    "t": lambda x: x.transpose(1, 2),
}


def dihedral(batch: torch.Tensor, elements: np.ndarray) -> torch.Tensor:
    """Apply symmetry ``D4_ELEMENTS[elements[i]]`` to square image ``i``; one operation per symmetry present.

    Shape:
        batch: (B, S, S, C). Returns the same shape.
    """
    out = batch.clone()
    for index, name in enumerate(D4_ELEMENTS):
        chosen = torch.from_numpy(np.flatnonzero(elements == index))
        if index and len(chosen):
            out[chosen] = _D4_OPS[name](batch[chosen])
    return out


def brightness_contrast(batch: torch.Tensor, alpha: np.ndarray, beta: np.ndarray) -> torch.Tensor:
    """``v * alpha + beta`` clipped to 0..255 and truncated to uint8, per image (albumentations' uint8 rule).

    Shape:
        batch: (B, H, W, C) uint8. Returns the same.
    """
    a = torch.from_numpy(alpha.astype(np.float32)).view(-1, 1, 1, 1)
    b = torch.from_numpy(beta.astype(np.float32)).view(-1, 1, 1, 1)
    return (batch.float() * a + b).clamp_(0, 255).to(torch.uint8)


def normalize(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, H, W, 3) to normalised float32 (B, 3, H, W) as :meth:`Preprocess.normalize` computes it; the result
    is a channels-last view (no copy)."""
    scale = np.float32(1.0 / 255.0)
    m = torch.tensor(mean, dtype=torch.float32)
    s = torch.tensor(std, dtype=torch.float32)
    return ((batch.float() * float(scale) - m) / s).permute(0, 3, 1, 2)


def augment(
    images: np.ndarray | Sequence[np.ndarray],
    draws: BatchDraws,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Crop, flip/rotate, change brightness/contrast and normalise a batch with the given draws.

    Shape:
        images: (B, H, W, 3) uint8 or B images of different shapes. Returns (B, 3, size, size) float32.
    """
    batch = torch.from_numpy(crop(images, draws.top, draws.left, size))
    if draws.d4 is not None:
        batch = dihedral(batch, draws.d4)
    if draws.alpha is not None and draws.beta is not None:
        batch = brightness_contrast(batch, draws.alpha, draws.beta)
    return normalize(batch, mean, std)
