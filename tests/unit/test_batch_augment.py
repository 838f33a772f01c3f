"""Batched augmentation on arrays equals albumentations image by image; the batched dataset and its loader."""

from __future__ import annotations

import os
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch
from albumentations.augmentations.geometric.functional import d4 as albumentations_d4

from dermkit.data.arrays import ArrayWriter
from dermkit.data.batch_augment import BATCH_PRESETS, D4_ELEMENTS, BatchDraws, augment, draw
from dermkit.data.batch_dataset import BatchArrayDataset
from dermkit.data.dataset import ImageDataset, default_workers, make_loader
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import Record

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _albumentations(image: np.ndarray, draws: BatchDraws, i: int, size: int) -> np.ndarray:
    """Image ``i`` through albumentations' own transforms with the batch's draws for it."""
    top, left = int(draws.top[i]), int(draws.left[i])
    out = A.Crop(x_min=left, y_min=top, x_max=left + size, y_max=top + size)(image=image)["image"]
    if draws.d4 is not None:
        out = albumentations_d4(out, D4_ELEMENTS[draws.d4[i]])
    if draws.alpha is not None and draws.beta is not None:
        out = A.RandomBrightnessContrast(p=1.0).apply(out, alpha=float(draws.alpha[i]), beta=float(draws.beta[i]))
    return A.Normalize(mean=MEAN, std=STD)(image=out)["image"].transpose(2, 0, 1)


@pytest.mark.parametrize("ragged", [False, True])
def test_batched_light_preset_equals_albumentations_per_image_given_the_same_draws(ragged: bool) -> None:
    rng = np.random.default_rng(0)
    shapes = [(40, 44), (36, 50), (40, 40), (45, 38), (40, 44), (33, 33), (41, 47), (38, 52)]
    if ragged:
        images: list[np.ndarray] | np.ndarray = [rng.integers(0, 256, (*s, 3), dtype=np.uint8) for s in shapes]
    else:
        images = rng.integers(0, 256, (8, 40, 44, 3), dtype=np.uint8)
    sizes = np.array([image.shape[:2] for image in images])
    draws = draw(BATCH_PRESETS.get("light"), sizes, 32, rng)
    draws = BatchDraws(draws.top, draws.left, np.arange(8), draws.alpha, draws.beta)  # every symmetry once
    assert draws.alpha is not None and (draws.alpha != 1.0).any() and (draws.alpha == 1.0).any()
    batch = augment(images, draws, 32, MEAN, STD)
    assert batch.shape == (8, 3, 32, 32) and batch.dtype == torch.float32
    for i, image in enumerate(images):
        np.testing.assert_allclose(batch[i].numpy(), _albumentations(image, draws, i, 32), atol=1e-5)


def test_draws_stay_inside_each_image_and_the_centre_is_taken_without_a_preset() -> None:
    rng = np.random.default_rng(1)
    shapes = np.array([[40, 60], [32, 32], [50, 33]] * 200)
    draws = draw(BATCH_PRESETS.get("light"), shapes, 32, rng)
    assert (draws.top >= 0).all() and (draws.top <= shapes[:, 0] - 32).all()
    assert (draws.left >= 0).all() and (draws.left <= shapes[:, 1] - 32).all()
    assert set(draws.d4.tolist()) == set(range(8))  # type: ignore[union-attr]
    assert 0.4 < np.mean(draws.alpha != 1.0) < 0.6  # p = 0.5
    centre = draw(None, shapes[:3], 32, rng)
    assert centre.top.tolist() == [4, 0, 9] and centre.left.tolist() == [14, 0, 0] and centre.d4 is None


def _store(tmp_path: Path, n: int = 10, side: int = 36) -> tuple[list[Record], np.ndarray]:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    writer = ArrayWriter(tmp_path / "train.npy")
    rows = [writer.add(image) for image in images]
    writer.close()
    store = str(tmp_path / "train.npy")
    records = [Record(tmp_path / f"img{i}.jpg", i % 3, pixels=(store, row)) for i, row in enumerate(rows)]
    return records, images


def test_batch_loader_yields_every_image_once_with_its_target_and_lists_unreadable_ones(tmp_path: Path) -> None:
    records, _ = _store(tmp_path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"no image")
    records.insert(4, Record(broken, 2))  # not cached, and unreadable
    loader = make_loader(BatchArrayDataset(records, Preprocess(32, 36), "light", seed=3), 4, shuffle=True)
    assert loader.num_workers == 0  # nothing to decode: one process does it
    batches = list(loader)
    seen = [i for batch in batches for i in batch["index"].tolist()]
    assert sorted(seen) == [i for i in range(11) if i != 4]
    for batch in batches:
        assert batch["target"].tolist() == [records[i].label for i in batch["index"].tolist()]
    skipped = [(i, e) for b in batches for i, e in zip(b["skipped_index"], b["skipped"], strict=True)]
    assert len(skipped) == 1 and skipped[0][0] == 4 and skipped[0][1].startswith(str(broken))


def test_evaluation_batches_equal_the_per_image_dataset_and_come_channels_last(tmp_path: Path) -> None:
    records, _ = _store(tmp_path)
    preprocess = Preprocess(32, 36, mean=MEAN, std=STD)
    batch = next(iter(make_loader(BatchArrayDataset(records, preprocess), 10)))
    reference = torch.stack([item["image"] for item in ImageDataset(records, preprocess)])
    assert torch.equal(batch["image"], reference)
    assert batch["image"].is_contiguous(memory_format=torch.channels_last)


def test_a_store_needing_a_resize_is_resized_once_as_the_per_image_path_resizes(tmp_path: Path) -> None:
    records, _ = _store(tmp_path)
    preprocess = Preprocess(32, 40, "square")  # 36-px rows, trained at 40
    dataset = BatchArrayDataset(records, preprocess)
    assert dataset.in_memory
    batch = dataset.__getitems__(list(range(len(records))))
    reference = torch.stack([item["image"] for item in ImageDataset(records, preprocess)])
    assert torch.equal(batch["image"], reference)


def test_default_workers_are_none_for_arrays_in_memory_and_leave_a_core_otherwise(tmp_path: Path) -> None:
    records, _ = _store(tmp_path)
    assert default_workers(BatchArrayDataset(records, Preprocess(32, 36))) == 0
    cores = len(os.sched_getaffinity(0))
    assert default_workers(ImageDataset(records, Preprocess(32, 36))) == max(0, cores - 1)
