"""Tests for dermkit.data.io: every input either decodes to RGB uint8 or fails with a one-line ImageLoadError."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from dermkit.data.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageInfo,
    is_image_file,
    load_image,
    probe_image,
)
from dermkit.errors import DermkitError, ImageLoadError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _smooth(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like image: smooth colour gradients, so lossy codecs keep colours close."""
    return cv2.resize(_noise(12, 16, seed), (width, height), interpolation=cv2.INTER_CUBIC)


def _save(path: Path, image: Image.Image | np.ndarray, **kwargs: object) -> Path:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, **kwargs)
    return path


def _encode(image: Image.Image | np.ndarray, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    _save(buffer, image, format=fmt, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def _png_claiming_size(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width x height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


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


# ---------------------------------------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lesion.jpg", True),
        ("LESION.JPEG", True),
        ("scan.Tiff", True),
        ("a/b/c.webp", True),
        ("x.bmp", True),
        ("._lesion.jpg", False),
        (".hidden.png", False),
        ("notes.txt", False),
        ("archive.jpg.zip", False),
        ("jpg", False),
    ],
)
def test_is_image_file_goes_by_extension_case_insensitively_and_skips_hidden_files(name: str, expected: bool) -> None:
    assert is_image_file(name) is expected
    assert is_image_file(Path(name)) is expected


def test_constants_match_the_documented_values() -> None:
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
    assert DEFAULT_MAX_PIXELS == 100_000_000


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


# ------------------------------------------------------------------------------------------------------------ modes


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_rgb_files_round_trip_exactly(tmp_path: Path, fmt: str) -> None:
    pixels = _noise(17, 23)
    path = _save(tmp_path / f"x.{fmt.lower()}", pixels, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    loaded = load_image(path)
    _assert_rgb(loaded, 17, 23)
    np.testing.assert_array_equal(loaded, pixels)


def test_grayscale_l_is_replicated_to_three_channels(tmp_path: Path) -> None:
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    loaded = load_image(_save(tmp_path / "grey.png", grey))
    _assert_rgb(loaded, 6, 10)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[:, :, channel], grey)


def test_one_bit_image_becomes_black_and_white(tmp_path: Path) -> None:
    bits = np.array([[True, False, True], [False, False, True]])
    loaded = load_image(_save(tmp_path / "bits.png", Image.fromarray(bits)))
    assert Image.open(tmp_path / "bits.png").mode == "1"
    np.testing.assert_array_equal(loaded[:, :, 1], bits.astype(np.uint8) * 255)


def _palette_image(transparent_index: int | None) -> Image.Image:
    image = Image.new("P", (4, 3), 0)
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.putpixel((2, 1), 1)
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image


def test_palette_image_without_transparency_uses_palette_colours(tmp_path: Path) -> None:
    loaded = load_image(_save(tmp_path / "p.png", _palette_image(None)))
    assert tuple(loaded[0, 0]) == RED and tuple(loaded[1, 2]) == BLUE


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_is_composited_onto_black(tmp_path: Path, fmt: str) -> None:
    path = _save(tmp_path / f"p.{fmt.lower()}", _palette_image(1), format=fmt, transparency=1)
    assert "transparency" in Image.open(path).info
    loaded = load_image(path)
    assert tuple(loaded[0, 0]) == RED
    assert tuple(loaded[1, 2]) == (0, 0, 0)


def test_grey_with_alpha_is_composited_onto_black(tmp_path: Path) -> None:
    grey = np.full((2, 2), 200, np.uint8)
    alpha = np.array([[255, 0], [128, 255]], np.uint8)
    path = _save(tmp_path / "la.png", Image.fromarray(np.dstack([grey, alpha]), "LA"))
    np.testing.assert_array_equal(load_image(path)[:, :, 2], [[200, 0], [100, 200]])


def test_rgba_transparent_pixel_becomes_black_and_opaque_pixel_keeps_its_colour(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = (250, 100, 10)
    rgba[..., 3] = [[0, 255], [128, 1]]
    loaded = load_image(_save(tmp_path / "rgba.png", rgba))
    assert tuple(loaded[0, 0]) == (0, 0, 0)
    assert tuple(loaded[0, 1]) == (250, 100, 10)
    assert tuple(loaded[1, 0]) == (125, 50, 5)  # round(v * 128 / 255)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path) -> None:
    path = _save(tmp_path / "cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), quality=95)
    assert Image.open(path).mode == "CMYK"
    r, g, b = load_image(path)[8, 8].astype(int)
    assert r > 230 and g < 25 and b < 25


def test_sixteen_bit_grey_png_is_scaled_by_257(tmp_path: Path) -> None:
    values = np.array([[65535, 257 * 100, 0, 128, 129, 257 * 7 + 100]], np.uint16)
    path = _save(tmp_path / "g16.png", values)
    assert Image.open(path).mode == "I;16"
    np.testing.assert_array_equal(load_image(path)[0, :, 0], [255, 100, 0, 0, 1, 7])


def test_big_endian_sixteen_bit_and_32_bit_int_tiffs_are_scaled_and_clipped(tmp_path: Path) -> None:
    big_endian = _save(tmp_path / "b16.tif", Image.fromarray(np.array([[65535, 25700]], ">u2")))
    assert Image.open(big_endian).mode == "I;16B"
    np.testing.assert_array_equal(load_image(big_endian)[0, :, 0], [255, 100])
    int32 = _save(tmp_path / "i32.tif", Image.fromarray(np.array([[-5, 70_000, 25_700]], np.int32)))
    assert Image.open(int32).mode == "I"
    np.testing.assert_array_equal(load_image(int32)[0, :, 0], [0, 255, 100])


def test_sixteen_bit_rgb_png_from_opencv_loads_in_rgb_order(tmp_path: Path) -> None:
    bgr = np.zeros((3, 4, 3), np.uint16)
    bgr[..., 0] = 257 * 7  # blue
    bgr[..., 1] = 257 * 100  # green
    bgr[..., 2] = 65535  # red
    bgr[0, 0] = (1000, 32767, 40000)
    path = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(path), bgr)
    loaded = load_image(path)
    _assert_rgb(loaded, 3, 4)
    assert tuple(loaded[1, 1]) == (255, 100, 7)
    expected = np.round(np.array([40000, 32767, 1000]) / 257)  # Pillow keeps the high byte: at most 1 level off
    assert np.abs(loaded[0, 0].astype(int) - expected).max() <= 1


def test_sixteen_bit_rgba_png_is_composited_onto_black(tmp_path: Path) -> None:
    bgra = np.zeros((2, 2, 4), np.uint16)
    bgra[..., 2] = 65535
    bgra[..., 3] = [[65535, 0], [32896, 65535]]
    path = tmp_path / "rgba16.png"
    assert cv2.imwrite(str(path), bgra)
    np.testing.assert_array_equal(load_image(path)[:, :, 0], [[255, 0], [128, 255]])


def test_float_tiff_is_read_as_unit_range_or_0_to_255(tmp_path: Path) -> None:
    unit = _save(tmp_path / "unit.tif", Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)))
    assert Image.open(unit).mode == "F"
    np.testing.assert_array_equal(load_image(unit)[0, :, 0], [0, 128, 255])
    wide = _save(tmp_path / "wide.tif", Image.fromarray(np.array([[-3.0, 127.6, 300.0]], np.float32)))
    np.testing.assert_array_equal(load_image(wide)[0, :, 0], [0, 128, 255])
    bad = _save(tmp_path / "nan.tif", Image.fromarray(np.array([[np.nan, 1.0]], np.float32)))
    _load_error(bad, str(bad), "NaN or infinite")


@pytest.mark.parametrize(("suffix", "extra"), [(".tif", {}), (".gif", {}), (".webp", {"lossless": True})])
def test_multi_frame_files_give_the_first_frame(tmp_path: Path, suffix: str, extra: dict[str, object]) -> None:
    first, second = Image.new("RGB", (6, 4), RED), Image.new("RGB", (6, 4), BLUE)
    path = _save(tmp_path / f"frames{suffix}", first, save_all=True, append_images=[second], **extra)
    assert getattr(Image.open(path), "n_frames", 1) == 2
    loaded = load_image(path)
    _assert_rgb(loaded, 4, 6)
    assert tuple(loaded[2, 3]) == RED


@pytest.mark.parametrize(
    ("mode", "value"), [("YCbCr", (76, 85, 255)), ("HSV", (0, 255, 255)), ("LAB", (135, 208, 195))]
)
def test_colour_space_images_are_converted_to_rgb(mode: str, value: tuple[int, int, int]) -> None:
    r, g, b = load_image(Image.new(mode, (3, 3), value))[1, 1].astype(int)
    assert r > 220 and g < 40 and b < 40


def test_pil_image_opened_lazily_from_a_file_is_decoded(tmp_path: Path) -> None:
    pixels = _noise(5, 7)
    with Image.open(_save(tmp_path / "lazy.png", pixels)) as image:
        np.testing.assert_array_equal(load_image(image), pixels)
    _load_error(Image.new("RGB", (0, 0)), "<image>", "image has no pixels")


# ----------------------------------------------------------------------------------------------------------- arrays


def test_arrays_of_every_supported_layout_and_dtype_become_rgb_uint8() -> None:
    grey = np.array([[0, 100], [200, 255]], np.uint8)
    cases = {
        "HxW uint8": (grey, grey),
        "HxWx1": (grey[:, :, None], grey),
        "uint16": (grey.astype(np.uint16) * 257, grey),
        "big-endian uint16": ((grey.astype(np.uint16) * 257).astype(">u2"), grey),
        "bool": (grey > 150, np.where(grey > 150, 255, 0)),
        "float": (np.array([[0.0, 0.5], [1.2, -0.3]], np.float32), np.array([[0, 128], [255, 0]])),
        "float64": (grey / 255.0, grey),
    }
    for label, (array, expected) in cases.items():
        loaded = load_image(array)
        _assert_rgb(loaded, 2, 2)
        for channel in range(3):
            np.testing.assert_array_equal(loaded[:, :, channel], expected, err_msg=label)


def test_rgb_and_rgba_arrays_keep_channel_order_and_composite_alpha() -> None:
    rgba = np.array([[[10, 20, 30, 255], [10, 20, 30, 0]]], np.uint8)
    np.testing.assert_array_equal(load_image(rgba), [[[10, 20, 30], [0, 0, 0]]])
    np.testing.assert_array_equal(load_image(rgba[:, :, :3]), [[[10, 20, 30], [10, 20, 30]]])


def test_array_output_is_a_contiguous_copy_not_a_view_of_the_input() -> None:
    rgb = _noise(4, 5)
    bgr_view = rgb[:, :, ::-1]
    loaded = load_image(bgr_view)
    _assert_rgb(loaded, 4, 5)
    np.testing.assert_array_equal(loaded, bgr_view)
    assert not np.shares_memory(loaded, rgb)
    same = load_image(rgb)
    same[0, 0] = 0
    assert not np.shares_memory(same, rgb)


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
