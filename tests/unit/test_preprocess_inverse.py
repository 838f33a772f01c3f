"""Preprocess.to_original: a map over the network input drawn back onto the original image, per resize mode.

The expected numbers are worked out by hand from the geometry (resize, crop offsets) and OpenCV's bilinear rule
``src = (dst + 0.5) / scale - 0.5`` (edges replicated).
"""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.data.preprocess import RESIZE_MODES, Preprocess


def test_shorter_mode_puts_the_crop_back_in_the_middle_and_zeroes_what_was_cut_away() -> None:
    # 50 x 100 (h x w), shorter side -> 20: 20 x 40; the 10-px centre crop is rows 5..14, cols 15..24 of that,
    # i.e. rows 12.5..37.5 and cols 37.5..62.5 of the original (scale 2.5).
    heat = Preprocess(image_size=10, resize=20, resize_mode="shorter").to_original(np.ones((10, 10)), 50, 100)
    assert heat.shape == (50, 100) and heat.dtype == np.float32
    assert (heat[14:36, 39:61] == 1).all()
    assert (heat[:11] == 0).all() and (heat[39:] == 0).all()
    assert (heat[:, :36] == 0).all() and (heat[:, 64:] == 0).all()
    np.testing.assert_allclose(heat[9:16, 50], [0, 0, 0.1, 0.5, 0.9, 1, 1], atol=1e-6)
    np.testing.assert_allclose(heat[25, 59:65], [1, 1, 0.9, 0.5, 0.1, 0], atol=1e-6)
    assert heat.sum() == pytest.approx(25 * 25, rel=1e-5)


def test_square_mode_stretches_back_and_blends_the_crop_edge_bilinearly() -> None:
    # 16 x 32 stretched to 8 x 8 (scale 1/2 down, 1/4 across), crop 6 x 6 at (1, 1).
    heat = Preprocess(image_size=6, resize=8, resize_mode="square").to_original(np.ones((6, 6)), 16, 32)
    assert heat.shape == (16, 32)
    np.testing.assert_allclose(heat[:, 16], [0, 0.25, 0.75] + [1] * 10 + [0.75, 0.25, 0], atol=1e-6)
    expected_row = [0, 0, 0.125, 0.375, 0.625, 0.875] + [1] * 20 + [0.875, 0.625, 0.375, 0.125, 0, 0]
    np.testing.assert_allclose(heat[8], expected_row, atol=1e-6)


def test_pad_square_mode_cuts_the_letterbox_off_again() -> None:
    # 20 x 40 padded to 40 x 40 (10 black rows above and below), resized to 10 x 10 (scale 4): network rows 0..4
    # cover padded rows 0..19, i.e. the black band plus original rows 0..9.
    net = np.zeros((10, 10))
    net[:5] = 1
    heat = Preprocess(image_size=10, resize=10, resize_mode="pad_square").to_original(net, 20, 40)
    assert heat.shape == (20, 40)
    np.testing.assert_allclose(heat[:, 7], [1] * 8 + [0.875, 0.625, 0.375, 0.125] + [0] * 8, atol=1e-6)
    np.testing.assert_array_equal(heat[:, 0], heat[:, 39])  # no padding across: columns all alike
    ones = Preprocess(image_size=10, resize=10, resize_mode="pad_square").to_original(np.ones((10, 10)), 20, 40)
    assert (ones == 1).all()  # the padding is gone: every original pixel was inside the network's view


@pytest.mark.parametrize("mode", RESIZE_MODES)
@pytest.mark.parametrize(("height", "width"), [(60, 90), (90, 60), (48, 48)])
def test_a_marked_region_comes_back_where_it_was(mode: str, height: int, width: int) -> None:
    preprocess = Preprocess(image_size=32, resize=40, resize_mode=mode)
    image = np.zeros((height, width, 3), np.uint8)
    top, left = height // 2 - 8, width // 2 - 4
    image[top : top + 12, left : left + 10] = 255  # a bright patch inside every mode's centre crop
    seen = preprocess.center_crop(preprocess.resize_image(image))[..., 0].astype(np.float32) / 255
    back = preprocess.to_original(seen, height, width) > 0.5
    mask = image[..., 0] > 0
    assert (back & mask).sum() / (back | mask).sum() > 0.8


def test_wrong_map_shape_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"not the network input's \(10, 10\)"):
        Preprocess(image_size=10, resize=10).to_original(np.ones((7, 7)), 20, 20)
