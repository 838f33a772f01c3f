"""Shared helpers for the dermkit.data.decode tests: synthetic pixels, encoders and the one-line error check."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermkit.data.decode import load_image
from dermkit.errors import DermkitError, ImageLoadError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(path: Path, image: Image.Image | np.ndarray, **kwargs: object) -> Path:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, **kwargs)
    return path


def _encode(image: Image.Image | np.ndarray, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    _save(buffer, image, format=fmt, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def _load_error(source: object, label: str, reason: str, **kwargs: object) -> ImageLoadError:
    """Load ``source``, expecting a one-line ImageLoadError that starts with ``label`` and contains ``reason``."""
    with pytest.raises(ImageLoadError) as info:
        load_image(source, **kwargs)  # type: ignore[arg-type]
    error = info.value
    message = str(error)
    assert isinstance(error, DermkitError) and isinstance(error, OSError)
    assert message.startswith(f"{label}: "), message
    assert error.path == label
    assert "\n" not in message and "Traceback" not in message
    assert reason in error.reason, message
    return error


def _assert_rgb(array: np.ndarray, height: int, width: int) -> None:
    assert array.dtype == np.uint8
    assert array.shape == (height, width, 3)
    assert array.flags.c_contiguous and array.flags.writeable


def _palette_image(transparent_index: int | None) -> Image.Image:
    image = Image.new("P", (4, 3), 0)
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.putpixel((2, 1), 1)
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image
