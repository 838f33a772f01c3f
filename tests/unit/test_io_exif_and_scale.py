"""dermkit.data.decode JPEG specifics: EXIF orientation and reduced-scale (``min_size``) draft decoding."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dermkit.data.decode import load_image
from tests.unit._io_helpers import BLUE, RED, _assert_rgb, _encode, _noise, _save


def _smooth(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like image: smooth colour gradients, so lossy codecs keep colours close."""
    return cv2.resize(_noise(12, 16, seed), (width, height), interpolation=cv2.INTER_CUBIC)


# ----------------------------------------------------------------------------------------------------- EXIF, draft


def _sideways_jpeg(path: Path, orientation: int) -> Path:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = RED  # distinctive left half
    pixels[:, 20:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(path, pixels, exif=exif, quality=95)


def test_exif_orientation_6_rotates_a_sideways_phone_photo_upright(tmp_path: Path) -> None:
    loaded = load_image(_sideways_jpeg(tmp_path / "o6.jpg", 6))
    _assert_rgb(loaded, 40, 20)
    top, bottom = loaded[5, 10].astype(int), loaded[34, 10].astype(int)  # rotating 90 CW puts the left half on top
    assert top[0] > 200 and top[2] < 50
    assert bottom[2] > 200 and bottom[0] < 50


def test_exif_orientation_8_puts_the_left_half_at_the_bottom(tmp_path: Path) -> None:
    loaded = load_image(_sideways_jpeg(tmp_path / "o8.jpg", 8))
    assert loaded.shape == (40, 20, 3)
    assert loaded[34, 10, 0] > 200 and loaded[5, 10, 2] > 200


def test_corrupt_exif_block_does_not_make_a_readable_image_unreadable() -> None:
    data = _encode(Image.new("RGB", (8, 8), (9, 9, 9)), "JPEG", exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow warns about the corrupt EXIF
        assert tuple(load_image(data)[4, 4]) == (9, 9, 9)


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(tmp_path_factory.mktemp("draft") / "large.jpg", _smooth(1200, 1600), quality=90)


def test_min_size_decodes_a_large_jpeg_at_reduced_scale_with_close_colours(large_jpeg: Path) -> None:
    full = load_image(large_jpeg)
    _assert_rgb(full, 1200, 1600)
    reduced = load_image(large_jpeg, min_size=256)
    assert 256 <= min(reduced.shape[:2]) < 1200
    _assert_rgb(reduced, *reduced.shape[:2])
    reference = cv2.resize(full, (reduced.shape[1], reduced.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(reference.astype(int) - reduced.astype(int)).mean() < 3


@pytest.mark.parametrize("min_size", [1, 149, 150, 151, 256, 600, 601, 1199, 1200, 1201, 5000])
def test_min_size_never_shrinks_the_shorter_side_below_the_request(large_jpeg: Path, min_size: int) -> None:
    height, width = load_image(large_jpeg, min_size=min_size).shape[:2]
    assert min(height, width) >= min(min_size, 1200)
    assert (height, width) in [(1200, 1600), (600, 800), (300, 400), (150, 200)]
    assert height * 4 == width * 3


def test_min_size_holds_after_exif_rotation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path / "rotated.jpg", _smooth(600, 800), exif=exif)
    loaded = load_image(path, min_size=200)
    assert loaded.shape == (400, 300, 3)  # decoded at 1/2 (400 x 300), then turned upright


def test_min_size_is_ignored_for_lossless_formats(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", _smooth(300, 400))
    assert load_image(path, min_size=50).shape == (300, 400, 3)
