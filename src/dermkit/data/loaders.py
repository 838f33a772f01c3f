"""The training and validation loaders of a run: batched on arrays where possible, per image otherwise.

When every record points at decoded pixels (a decoded-image cache, ``data.cache=auto``, MedMNIST's arrays) and the
augmentation preset has a batched twin (:data:`~dermkit.data.batch_augment.BATCH_PRESETS`), batches are read and
augmented whole (:class:`~dermkit.data.batch_dataset.BatchArrayDataset`). Otherwise each image is decoded (or read
from its row) and augmented by albumentations in :class:`~dermkit.data.dataset.ImageDataset`. Both give the same
batch layout, so the engine does not know which it got.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch.utils.data import DataLoader, Dataset

from dermkit.data.batch_augment import BATCH_PRESETS
from dermkit.data.batch_dataset import BatchArrayDataset
from dermkit.data.dataset import ImageDataset, make_loader
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import ImageTable, Record
from dermkit.data.samplers import create_sampler
from dermkit.data.transforms import create_transform

Targets = Callable[[Record], dict[str, int | float]]


def batchable(records: Sequence[Record], transform: str | None) -> bool:
    """Whether ``records`` can be loaded a batch at a time: all point at stored pixels and the preset (None for
    evaluation) has a batched twin."""
    return bool(records) and all(r.pixels for r in records) and (transform is None or transform in BATCH_PRESETS)


def create_dataset(
    records: Sequence[Record], preprocess: Preprocess, transform: str | None, targets: Targets, seed: int = 0
) -> Dataset:
    """The dataset for ``records``: batched on arrays when :func:`batchable`, else per image.

    Args:
        records: the images.
        preprocess: the model's evaluation preprocessing.
        transform: a training preset (``data.train_transform``), or None to evaluate.
        targets: the task's targets of a record.
        seed: seed of the augmentation draws.
    """
    if batchable(records, transform):
        return BatchArrayDataset(records, preprocess, transform, targets, seed)
    augment = None
    if transform is not None:
        augment = create_transform(transform, preprocess.image_size, preprocess.mean, preprocess.std, seed=seed)
    return ImageDataset(records, preprocess, augment, targets)


def training_loaders(
    train: ImageTable,
    val: ImageTable,
    preprocess: Preprocess,
    *,
    train_preprocess: Preprocess | None = None,
    transform: str,
    targets: Targets,
    batch_size: int,
    eval_batch_size: int | None = None,
    num_workers: int | None = None,
    sampler: str | None = None,
    drop_last: bool = False,
    seed: int = 0,
    epochs: int = 1,
) -> tuple[DataLoader, DataLoader]:
    """The shuffled (or ``sampler``-drawn) training loader and the validation loader of a run.

    Args:
        train: training records.
        val: validation records.
        preprocess: the model's evaluation preprocessing.
        train_preprocess: the training images' preprocessing (``data.train_resize``); default ``preprocess``.
        transform: the training augmentation preset.
        targets: the task's targets of a record.
        batch_size: training batch size.
        eval_batch_size: validation batch size (default ``batch_size``).
        num_workers: loader processes; None chooses per loader (:func:`~dermkit.data.dataset.default_workers`).
        sampler: a class sampler (:data:`~dermkit.data.samplers.SAMPLERS`) or None to shuffle.
        drop_last: drop the last incomplete training batch; a last batch of one image is always dropped (batch
            norm cannot train on a single image, and one image per epoch, reshuffled, is not missed).
        seed: seed of the sampler and the augmentation draws.
        epochs: the run's epochs (progressive samplers).
    """
    train_set = create_dataset(train.records, train_preprocess or preprocess, transform, targets, seed)
    chosen = create_sampler(sampler, train.labels(), seed=seed, total_epochs=epochs) if sampler else None
    drop_last = drop_last or len(chosen if chosen is not None else train_set) % batch_size == 1
    train_loader = make_loader(train_set, batch_size, shuffle=True, num_workers=num_workers, sampler=chosen,
                               drop_last=drop_last)  # fmt: skip
    val_set = create_dataset(val.records, preprocess, None, targets)
    return train_loader, make_loader(val_set, eval_batch_size or batch_size, num_workers=num_workers)
