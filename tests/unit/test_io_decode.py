"""dermkit.data.decode decoding: image-file detection, every pixel mode and format, and arrays, to RGB uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dermkit.data.decode import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, is_image_file, load_image
from tests.unit._io_helpers import BLUE, RED, _assert_rgb, _load_error, _noise, _palette_image, _save

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
