"""dermkit.data.transforms: named albumentations training presets."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.data.preprocess import Preprocess
from dermkit.data.transforms import PRESETS, TrainTransform, create_transform
from dermkit.registry import RegistryError

PRE = Preprocess(image_size=32, resize=40)
RANDOM_PRESETS = [name for name in PRESETS.names() if name != "none"]


@pytest.fixture(scope="module")
def resized() -> np.ndarray:
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    return PRE.resize_image(image)


def make(name: str) -> TrainTransform:
    return create_transform(name, PRE.image_size, PRE.mean, PRE.std)


def test_expected_presets_are_registered() -> None:
    assert {"none", "light", "skin_classifier", "two_class"} <= set(PRESETS.names())


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_returns_float32_chw_of_image_size(name: str, resized: np.ndarray) -> None:
    out = make(name)(resized)
    assert out.shape == (3, 32, 32)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert np.isfinite(out).all()


def test_none_equals_preprocess_centre_crop_output(resized: np.ndarray) -> None:
    out = make("none")(resized)
    expected = PRE.normalize(PRE.center_crop(resized))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_none_after_resize_equals_full_preprocess(resized: np.ndarray) -> None:
    image = np.random.default_rng(5).integers(0, 256, (60, 45, 3), dtype=np.uint8)
    np.testing.assert_allclose(make("none")(PRE.resize_image(image)), PRE(image), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", RANDOM_PRESETS)
def test_random_presets_differ_between_calls(name: str, resized: np.ndarray) -> None:
    transform = make(name)
    transform.pipeline.set_random_seed(1)
    outputs = [transform(resized) for _ in range(4)]
    assert any(not np.array_equal(outputs[0], other) for other in outputs[1:])


@pytest.mark.parametrize("name", PRESETS.names())
def test_presets_are_deterministic_under_the_same_seed(name: str, resized: np.ndarray) -> None:
    first, second = make(name), make(name)
    first.pipeline.set_random_seed(7)
    second.pipeline.set_random_seed(7)
    for _ in range(3):
        np.testing.assert_array_equal(first(resized), second(resized))


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(RegistryError, match="unknown transform preset 'heavy'") as info:
        make("heavy")
    for name in PRESETS.names():
        assert name in str(info.value)


def test_hflip_gives_the_centre_crop_or_its_mirror(resized: np.ndarray) -> None:
    transform = make("hflip")
    transform.pipeline.set_random_seed(0)
    plain = PRE.normalize(PRE.center_crop(resized))
    seen = set()
    for _ in range(12):
        out = transform(resized)
        if np.allclose(out, plain, atol=1e-5):
            seen.add("plain")
        else:
            np.testing.assert_allclose(out, plain[:, :, ::-1], atol=1e-5)
            seen.add("mirrored")
    assert seen == {"plain", "mirrored"}
