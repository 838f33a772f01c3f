"""ImageDataset, the skipping collate and the balanced sampler."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from dermkit.data.dataset import ImageDataset, collate, make_loader
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import Record
from dermkit.data.samplers import balanced_sampler
from dermkit.data.transforms import create_transform


def test_dataset_items_carry_image_target_and_index(synth_dir: Path) -> None:
    records = [Record(path, label) for label, path in enumerate(sorted((synth_dir / "benign").glob("*.jpg"))[:2])]
    dataset = ImageDataset(records, Preprocess(32, 40))
    item = dataset[1]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["target"].item() == 1 and item["index"] == 1


def test_eval_items_equal_preprocess_of_the_loaded_image(synth_dir: Path) -> None:
    from dermkit.data.decode import load_image

    path = sorted((synth_dir / "benign").glob("*.jpg"))[0]
    preprocess = Preprocess(32, 40)
    item = ImageDataset([Record(path, 0)], preprocess)[0]
    assert np.allclose(item["image"].numpy(), preprocess(load_image(path)))


def test_training_transform_is_used_when_given(synth_dir: Path) -> None:
    path = sorted((synth_dir / "benign").glob("*.jpg"))[0]
    dataset = ImageDataset([Record(path, 0)], Preprocess(32, 40), create_transform("light", 32, (0.5,) * 3, (0.2,) * 3))
    images = [dataset[0]["image"] for _ in range(4)]
    assert all(image.shape == (3, 32, 32) for image in images)
    assert any(not torch.equal(images[0], other) for other in images[1:])


def test_collate_drops_unreadable_items_and_lists_them(synth_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    good = sorted((synth_dir / "benign").glob("*.jpg"))[:2]
    dataset = ImageDataset([Record(good[0], 0), Record(bad, 1), Record(good[1], 1)], Preprocess(32, 32))
    batch = collate([dataset[i] for i in range(3)])
    assert batch["image"].shape == (2, 3, 32, 32)
    assert batch["target"].tolist() == [0, 1] and batch["index"].tolist() == [0, 2]
    assert batch["skipped_index"] == [1] and batch["skipped"][0].startswith(str(bad))
    only_bad = collate([dataset[1]])
    assert "image" not in only_bad and len(only_bad["skipped"]) == 1


def test_loader_with_workers_yields_every_readable_image_once(synth_dir: Path) -> None:
    records = [Record(path, 0) for path in sorted((synth_dir / "benign").glob("*.jpg"))[:10]]
    loader = make_loader(ImageDataset(records, Preprocess(32, 32)), 4, num_workers=2)
    seen = [index for batch in loader for index in batch["index"].tolist()]
    assert sorted(seen) == list(range(10))


def test_balanced_sampler_draws_classes_equally_often() -> None:
    labels = [0] * 90 + [1] * 10
    sampler = balanced_sampler(labels, num_samples=4000, seed=0)
    counts = Counter(labels[i] for i in sampler)
    assert abs(counts[0] - counts[1]) < 300
    assert list(balanced_sampler(labels, seed=3)) == list(balanced_sampler(labels, seed=3))


def _augmented_batches(path: Path, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    dataset = ImageDataset(
        [Record(path, 0)] * 4, Preprocess(32, 40), create_transform("light", 32, (0.5,) * 3, (0.2,) * 3)
    )
    return [batch["image"] for batch in make_loader(dataset, 2, num_workers=2)]


def test_workers_draw_independent_but_reproducible_augmentations(synth_dir: Path) -> None:
    path = sorted((synth_dir / "malignant").glob("*.jpg"))[0]
    first = _augmented_batches(path, seed=0)
    # Batch 0 comes from worker 0 and batch 1 from worker 1: the same image must not get the same draws.
    assert not torch.equal(first[0], first[1])
    assert all(torch.equal(a, b) for a, b in zip(first, _augmented_batches(path, seed=0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, _augmented_batches(path, seed=1), strict=True))


def _train_batch_sizes(synth_dir: Path, count: int, sampler: str | None = None) -> list[int]:
    from dermkit.data.loaders import training_loaders
    from dermkit.data.records import ImageTable

    paths = sorted((synth_dir / "benign").glob("*.jpg"))[:count]
    table = ImageTable([Record(path, i % 2) for i, path in enumerate(paths)], ["benign", "malignant"], synth_dir)
    train, _ = training_loaders(table, table, Preprocess(32, 32), transform="none", targets=lambda r: {},
                                batch_size=4, num_workers=0, sampler=sampler)  # fmt: skip
    return [len(batch["index"]) for batch in train]


def test_a_last_training_batch_of_one_image_is_dropped_and_others_are_kept(synth_dir: Path) -> None:
    # Batch norm cannot train on one image ("Expected more than 1 value per channel"): 9 = 4 + 4 + 1 drops the 1.
    assert _train_batch_sizes(synth_dir, 9) == [4, 4]
    assert _train_batch_sizes(synth_dir, 10) == [4, 4, 2]
    assert _train_batch_sizes(synth_dir, 5, sampler="balanced") == [4]
