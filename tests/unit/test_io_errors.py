"""dermkit.data.decode failures: bad files, bombs, unusable arrays and probes give one-line ImageLoadErrors; fuzzed."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from dermkit.data.decode import ImageInfo, load_image, probe_image
from dermkit.errors import ImageLoadError
from tests.unit._io_helpers import _encode, _load_error, _noise, _palette_image, _save


def _png_claiming_size(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width x height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------------------- bad files


def test_missing_file_raises_file_not_found_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "gone.jpg"
    error = _load_error(path, str(path), "file not found")
    assert error.reason == "file not found"


def test_directory_raises_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "looks_like.jpg"
    folder.mkdir()
    assert _load_error(str(folder), str(folder), "is a directory").reason == "is a directory"


def test_zero_byte_file_raises_empty_file_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert _load_error(path, str(path), "empty file (0 bytes)").reason == "empty file (0 bytes)"


def test_text_file_named_jpg_is_not_an_image_and_says_it_looks_like_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("lesion 12, left forearm, 6 mm\n")
    error = _load_error(path, str(path), "not an image (unrecognised format")
    assert "text" in error.reason


def test_html_error_page_saved_as_jpg_is_reported_as_html(tmp_path: Path) -> None:
    path = tmp_path / "download.jpg"
    path.write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    assert "HTML" in _load_error(path, str(path), "not an image").reason


def test_heic_photo_gets_a_convert_hint() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    assert "convert it to JPEG or PNG" in _load_error(heic, "phone.heic", "not an image", name="phone.heic").reason


def test_random_bytes_are_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(b"\x00\xff" + np.random.default_rng(3).bytes(998))
    _load_error(path, str(path), "not an image (unrecognised format")


def test_truncated_jpeg_raises_one_line_error_naming_file(tmp_path: Path) -> None:
    data = _encode(_noise(120, 160), "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    _load_error(path, str(path), "truncated or corrupt image data (")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_raises_one_line_error_naming_file(tmp_path: Path) -> None:
    data = _encode(_noise(120, 160), "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _load_error(path, str(path), "truncated or corrupt image data (")


@pytest.mark.parametrize(("chunk", "length", "cause"), [(b"IHDR", 5, ValueError), (b"IDAT", 10, SyntaxError)])
def test_corrupt_png_chunks_that_pillow_reports_without_oserror_still_raise_image_load_error(
    tmp_path: Path, chunk: bytes, length: int, cause: type[Exception]
) -> None:
    png = _encode(_noise(12, 16), "PNG")
    at = png.index(chunk) - 4  # the chunk's length field
    path = tmp_path / "broken.png"
    path.write_bytes(png[:at] + struct.pack(">I", length) + png[at + 4 :])
    error = _load_error(path, str(path), "truncated or corrupt image data (")
    assert isinstance(error.__cause__, cause)  # the original Pillow exception stays chained for debugging


def test_image_over_max_pixels_is_rejected_with_its_size_and_the_limit(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", _noise(120, 160))
    error = _load_error(path, str(path), "image too large", max_pixels=19_199)
    assert error.reason == (
        "image too large: 160 x 120 = 19200 pixels exceeds the limit of 19199 (decompression-bomb guard)"
    )
    assert load_image(path, max_pixels=19_200).shape == (120, 160, 3)


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path: Path) -> None:
    data = _encode(_noise(120, 160), "JPEG")
    path = tmp_path / "cut_and_big.jpg"
    path.write_bytes(data[: len(data) // 2])  # decoding would fail as truncated; the size check must come first
    _load_error(path, str(path), "image too large: 160 x 120", max_pixels=1000)


def test_png_header_claiming_144_megapixels_is_rejected_quietly_without_decoding() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = _load_error(_png_claiming_size(12_000, 12_000), "bomb.png", "image too large", name="bomb.png")
    assert error.reason.startswith("image too large: 12000 x 12000 = 144000000 pixels exceeds the limit of 100000000")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert before == Image.MAX_IMAGE_PIXELS


def test_png_header_beyond_pillows_own_bomb_limit_is_reported_as_too_large() -> None:
    error = _load_error(_png_claiming_size(100_000, 100_000), "<bytes>", "image too large")
    assert "10000000000 pixels" in error.reason and "decompression-bomb guard" in error.reason


def test_bytes_errors_name_the_given_name_or_bytes() -> None:
    _load_error(b"definitely not an image", "<bytes>", "not an image")
    _load_error(b"definitely not an image", "upload-17.jpg", "not an image", name="upload-17.jpg")
    _load_error(b"", "<bytes>", "empty data (0 bytes)")


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.zeros(5, np.uint8), "unsupported array shape (5,)"),
        (np.zeros((2, 2, 2, 2), np.uint8), "unsupported array shape"),
        (np.zeros((4, 4, 2), np.uint8), "unsupported array shape (4, 4, 2)"),
        (np.zeros((0, 4, 3), np.uint8), "empty array"),
        (np.zeros((4, 0), np.uint8), "empty array"),
        (np.array([[0.2, np.nan]]), "NaN or infinite"),
        (np.array([[0.2, np.inf]], np.float32), "NaN or infinite"),
        (np.zeros((2, 2), np.complex64), "unsupported array dtype complex64"),
        (np.zeros((2, 2), np.int64), "unsupported array dtype int64"),
        (np.zeros((2, 2, 3), object), "unsupported array dtype object"),
    ],
)
def test_unusable_arrays_raise_one_line_errors(array: np.ndarray, reason: str) -> None:
    _load_error(array, "<array>", reason)
    _load_error(array, "sample-3", reason, name="sample-3")


def test_array_over_max_pixels_is_rejected() -> None:
    _load_error(np.zeros((10, 10, 3), np.uint8), "<array>", "image too large: 10 x 10 = 100", max_pixels=99)


def test_programming_errors_are_not_image_errors() -> None:
    with pytest.raises(TypeError, match="cannot read a int"):
        load_image(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_size"):
        load_image(np.zeros((2, 2), np.uint8), min_size=0)


# ------------------------------------------------------------------------------------------------------------ probe


def test_probe_image_reads_the_header_only_so_truncation_goes_unnoticed(tmp_path: Path) -> None:
    data = _encode(_noise(30, 50), "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert probe_image(path) == ImageInfo(width=50, height=30, mode="RGB", format="JPEG")
    _load_error(path, str(path), "truncated or corrupt")


def test_probe_image_reports_mode_and_format(tmp_path: Path) -> None:
    path = _save(tmp_path / "grey.png", np.zeros((7, 9), np.uint16))
    assert probe_image(str(path)) == ImageInfo(width=9, height=7, mode="I;16", format="PNG")


def test_probe_image_rejects_missing_empty_non_image_and_too_large_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    big = _save(tmp_path / "big.png", _noise(20, 20))
    cases = [
        (tmp_path / "missing.jpg", "file not found", {}),
        (tmp_path / "empty.jpg", "empty file (0 bytes)", {}),
        (tmp_path / "text.png", "not an image", {}),
        (tmp_path, "is a directory", {}),
        (big, "image too large: 20 x 20 = 400 pixels exceeds the limit of 399", {"max_pixels": 399}),
    ]
    for path, reason, kwargs in cases:
        with pytest.raises(ImageLoadError) as info:
            probe_image(path, **kwargs)
        assert str(info.value).startswith(f"{path}: ") and reason in info.value.reason


# -------------------------------------------------------------------------------------------------------------- fuzz


def _fuzz_seeds() -> list[bytes]:
    pixels = _noise(12, 16, seed=7)
    exif = Image.Exif()
    exif[0x0112] = 6
    return [
        _encode(pixels, "JPEG", quality=80),
        _encode(pixels, "JPEG", progressive=True, exif=exif),
        _encode(pixels, "PNG"),
        _encode(_palette_image(1), "PNG", transparency=1),
        _encode(np.arange(192, dtype=np.uint16).reshape(12, 16) * 300, "PNG"),
        _encode(pixels, "GIF"),
        _encode(pixels, "BMP"),
        _encode(pixels, "TIFF"),
        _encode(pixels, "WEBP", quality=80),
    ]


_SEEDS = _fuzz_seeds()


@st.composite
def _mutated_image_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF/TIFF tags while parsing
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=2048), _mutated_image_bytes()))
def test_arbitrary_bytes_decode_to_rgb_or_raise_image_load_error(data: bytes) -> None:
    try:
        loaded = load_image(data)
    except ImageLoadError as error:
        assert str(error).startswith("<bytes>: ") and "\n" not in str(error)
    else:
        assert loaded.dtype == np.uint8 and loaded.ndim == 3 and loaded.shape[2] == 3
        assert loaded.shape[0] > 0 and loaded.shape[1] > 0 and loaded.flags.c_contiguous
