"""A torch Dataset over records that survives bad images, and the loaders built from it.

A file that cannot be decoded does not crash a worker: its item carries the one-line error, :func:`collate` drops it
from the batch and lists it under ``batch["skipped"]``, and the training loop reports it once (or stops, with
``--strict``). Labels of the other images stay aligned because every item carries its own target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from dermkit.data.arrays import read_pixels, usable_cores
from dermkit.data.batch_dataset import whole_batch
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import Record
from dermkit.errors import ImageLoadError


class ImageDataset(Dataset):
    """Decodes, resizes and transforms the images of ``records``.

    Args:
        records: the images and their labels.
        preprocess: the model's evaluation preprocessing (its resize is the first step of training too).
        transform: a training transform taking the resized uint8 image; None evaluates (centre crop).

        targets: the task's targets of a record (:meth:`dermkit.tasks.Task.item_targets`); default ``target``, the
            class index (-1 when unlabelled).

    Items are dicts: ``image`` float32 (3, S, S), each target (int64 or float32 scalars), ``index``; or, for an
    unreadable file, ``{"error": "<path>: <problem>", "index": i}``.
    """

    def __init__(
        self,
        records: Sequence[Record],
        preprocess: Preprocess,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        targets: Callable[[Record], dict[str, int | float]] | None = None,
    ) -> None:
        self.records = list(records)
        self.preprocess = preprocess
        self.transform = transform
        self.targets = targets or _class_target

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        try:
            image = read_pixels(record, min_size=self.preprocess.resize)
        except ImageLoadError as exc:
            return {"error": str(exc), "index": index}
        image = self.preprocess.resize_image(image)
        array = (
            self.transform(image)
            if self.transform is not None
            else self.preprocess.normalize(self.preprocess.center_crop(image))
        )
        targets = {key: torch.tensor(value) for key, value in self.targets(record).items()}
        return {"image": torch.from_numpy(array), **targets, "index": index}


def _class_target(record: Record) -> dict[str, int]:
    return {"target": -1 if record.label is None else record.label}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch the readable items; list the unreadable ones' errors under ``skipped`` and their dataset indices under
    ``skipped_index``. An all-bad batch has no ``image``."""
    good = [item for item in items if "error" not in item]
    batch: dict[str, Any] = default_collate(good) if good else {}
    bad = [item for item in items if "error" in item]
    batch["skipped"] = [item["error"] for item in bad]
    batch["skipped_index"] = [item["index"] for item in bad]
    return batch


def default_workers(dataset: Dataset) -> int:
    """Loader processes when the user sets none: 0 for a dataset that reads whole batches from memory (workers
    would cost more than they save), else the usable cores but one, which is left to the trainer."""
    return 0 if getattr(dataset, "in_memory", False) else max(0, usable_cores() - 1)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    num_workers: int | None = 0,
    sampler: torch.utils.data.Sampler | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader with the skipping collate, persistent workers and pinned memory where useful; ``num_workers``
    None chooses :func:`default_workers`. A dataset with ``__getitems__`` (:class:`BatchArrayDataset`) makes its
    batches itself."""
    num_workers = default_workers(dataset) if num_workers is None else num_workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=whole_batch if hasattr(dataset, "__getitems__") else collate,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
