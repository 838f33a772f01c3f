"""dermkit.data.preprocess: numpy/OpenCV evaluation preprocessing (resize modes, centre crop, normalisation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermkit.data.preprocess import RESIZE_MODES, Preprocess


def constant(height: int, width: int, rgb: tuple[int, int, int] = (200, 100, 50)) -> np.ndarray:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = rgb
    return image


@pytest.mark.parametrize(("height", "width"), [(60, 90), (90, 60), (50, 50), (20, 30), (200, 100)])
def test_shorter_mode_scales_shorter_side_to_resize_and_keeps_aspect(height: int, width: int) -> None:
    out = Preprocess(image_size=32, resize=40, resize_mode="shorter").resize_image(constant(height, width))
    assert min(out.shape[:2]) == 40
    assert out.shape[2] == 3 and out.dtype == np.uint8
    assert out.shape[1] / out.shape[0] == pytest.approx(width / height, abs=1 / 40)


@pytest.mark.parametrize(("height", "width"), [(60, 90), (90, 60), (20, 30)])
def test_square_mode_stretches_to_resize_by_resize(height: int, width: int) -> None:
    out = Preprocess(image_size=32, resize=40, resize_mode="square").resize_image(constant(height, width))
    assert out.shape == (40, 40, 3)


def test_image_already_at_size_is_returned_unchanged() -> None:
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    out = Preprocess(image_size=32, resize=40, resize_mode="square").resize_image(image)
    np.testing.assert_array_equal(out, image)


def test_pad_square_pads_with_black_and_keeps_the_image_centred() -> None:
    # a white 20 x 60 (h x w) image padded to 60 x 60 then resized to 30: white rows 10..19, black elsewhere
    out = Preprocess(image_size=30, resize=30, resize_mode="pad_square").resize_image(constant(20, 60, (255, 255, 255)))
    assert out.shape == (30, 30, 3)
    rows = out.mean(axis=(1, 2))
    white = np.flatnonzero(rows > 127)
    assert white.min() == 10 and white.max() == 19
    assert (out[:9] == 0).all() and (out[21:] == 0).all()
    np.testing.assert_array_equal(out[:, :, 0], out[::-1, :, 0])  # symmetric about the centre row
    assert (out[12:18] == 255).all()


def test_pad_square_on_a_tall_image_pads_left_and_right() -> None:
    out = Preprocess(image_size=30, resize=30, resize_mode="pad_square").resize_image(constant(60, 20, (255, 255, 255)))
    columns = out.mean(axis=(0, 2))
    white = np.flatnonzero(columns > 127)
    assert white.min() == 10 and white.max() == 19
    assert (out[:, :9] == 0).all() and (out[:, 21:] == 0).all()


@pytest.mark.parametrize("mode", RESIZE_MODES)
@pytest.mark.parametrize(("height", "width"), [(48, 64), (100, 37), (33, 33)])
def test_call_returns_float32_chw_of_image_size(mode: str, height: int, width: int) -> None:
    image = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = Preprocess(image_size=32, resize=36, resize_mode=mode)(image)
    assert out.shape == (3, 32, 32)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous


def test_normalised_values_match_manual_numpy_on_a_constant_image() -> None:
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    rgb = (200, 100, 50)
    out = Preprocess(image_size=32, resize=40, mean=mean, std=std)(constant(50, 70, rgb))
    for channel in range(3):
        expected = (rgb[channel] / 255.0 - mean[channel]) / std[channel]
        np.testing.assert_allclose(out[channel], np.full((32, 32), expected, dtype=np.float32), rtol=1e-6, atol=1e-6)


def test_channels_keep_rgb_order_after_transpose() -> None:
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[..., 0] = 255
    out = Preprocess(image_size=32, resize=32, mean=(0, 0, 0), std=(1, 1, 1))(image)
    assert (out[0] == 1).all() and (out[1] == 0).all() and (out[2] == 0).all()


def test_center_crop_takes_the_central_square() -> None:
    image = np.zeros((40, 50, 3), dtype=np.uint8)
    image[4:36, 9:41] = 255
    crop = Preprocess(image_size=32, resize=40).center_crop(image)
    assert crop.shape == (32, 32, 3)
    assert (crop == 255).all()


def test_to_dict_from_dict_round_trip_through_json() -> None:
    original = Preprocess(image_size=48, resize=56, resize_mode="pad_square", mean=(0.5, 0.5, 0.5), std=(0.2, 0.3, 0.4))
    data = json.loads(json.dumps(original.to_dict()))
    assert data["mean"] == [0.5, 0.5, 0.5]
    assert Preprocess.from_dict(data) == original


def test_from_dict_ignores_unknown_keys_and_uses_defaults() -> None:
    assert Preprocess.from_dict({"image_size": 32, "resize": 40, "extra": 1}) == Preprocess(image_size=32, resize=40)


def test_invalid_resize_mode_raises_listing_modes() -> None:
    with pytest.raises(ValueError, match=r"unknown resize_mode 'letterbox'.*shorter, square, pad_square"):
        Preprocess(resize_mode="letterbox")


def test_resize_smaller_than_image_size_raises() -> None:
    with pytest.raises(ValueError, match=r"resize \(200\) must be >= image_size \(224\)"):
        Preprocess(image_size=224, resize=200)


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 120),
    width=st.integers(1, 120),
    mode=st.sampled_from(RESIZE_MODES),
    size=st.integers(8, 40),
    extra=st.integers(0, 16),
)
def test_any_image_size_gives_the_network_input_shape(
    height: int, width: int, mode: str, size: int, extra: int
) -> None:
    image = np.full((height, width, 3), 128, dtype=np.uint8)
    out = Preprocess(image_size=size, resize=size + extra, resize_mode=mode)(image)
    assert out.shape == (3, size, size)
    assert np.isfinite(out).all()
