"""A dataset that hands out whole batches of already-decoded images (a decoded-image cache, MedMNIST's arrays).

``DataLoader`` asks ``__getitems__`` for all indices of a batch at once, so the rows are read from the memory-mapped
store in one fancy index (when they share a store and a shape), and the crop, flips, brightness/contrast and
normalisation run once on the batch (:mod:`dermkit.data.batch_augment`) instead of once per image in Python. Its
batches have the keys, dtypes and skip semantics of :func:`dermkit.data.dataset.collate`: a record whose pixels
cannot be read is listed under ``skipped`` and the other images stay aligned with their targets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch
import torch.utils.data
from torch.utils.data import Dataset

from dermkit.data import batch_augment
from dermkit.data.arrays import open_store, read_pixels
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import Record
from dermkit.errors import ImageLoadError

#: A dataset whose stores take more than this share of the machine's memory is not "in memory" (its pages come and
#: go), so loading it in worker processes pays.
IN_MEMORY_SHARE = 0.25
#: A store whose images need resizing is resized once and kept in memory up to this many bytes.
RESIZED_IN_MEMORY = 512 * 2**20


class BatchArrayDataset(Dataset):
    """Batches of records that point at stored pixels (``Record.pixels``), augmented on the batch.

    Args:
        records: the images; a record without stored pixels is decoded from its file.
        preprocess: the model's evaluation preprocessing (resize, crop size, mean, std).
        augment: a batched preset (:data:`~dermkit.data.batch_augment.BATCH_PRESETS`); None evaluates (centre crop).
        targets: the task's targets of a record (default ``target``, the class index, -1 when unlabelled).
        seed: seed of the augmentation draws in the main process; each worker re-seeds from its torch seed.
    """

    def __init__(
        self,
        records: Sequence[Record],
        preprocess: Preprocess,
        augment: str | None = None,
        targets: Callable[[Record], dict[str, int | float]] | None = None,
        seed: int = 0,
    ) -> None:
        self.records = list(records)
        self.preprocess = preprocess
        self.preset = batch_augment.BATCH_PRESETS.get(augment) if augment is not None else None
        target_of = targets or (lambda record: {"target": -1 if record.label is None else record.label})
        rows = [target_of(record) for record in self.records]
        self.targets = {key: torch.tensor([row[key] for row in rows]) for key in (rows[0] if rows else {})}
        self.rng = np.random.default_rng(seed)
        self._worker_seed: int | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    @cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        """Per store, its images at the preprocessing's resize as one (N, H, W, 3) array: the memory map itself when
        they already have that size, else a copy resized once and held in memory when it stays under
        :data:`RESIZED_IN_MEMORY` bytes (MedMNIST's 28-px arrays trained at 32 px). Stores of mixed shapes, and
        larger ones needing a resize, are read image by image."""
        arrays = {}
        for file in sorted({record.pixels[0] for record in self.records if record.pixels}):
            try:
                store = open_store(file)
            except (OSError, ValueError):
                continue
            if not store.uniform or not len(store):
                continue
            shape = tuple(store.array.shape[1:3])
            target = self.preprocess.resize_image(np.zeros((*shape, 3), np.uint8)).shape
            if target[:2] == shape:
                arrays[file] = store.array
            elif len(store) * int(np.prod(target)) <= RESIZED_IN_MEMORY:
                arrays[file] = np.stack([self.preprocess.resize_image(np.asarray(image)) for image in store.array])
        return arrays

    @property
    def in_memory(self) -> bool:
        """Whether every image is a row of an array that fits comfortably in memory (then workers cost more than
        they save: a batch is one read and a few array operations)."""
        if not self.records or any(r.pixels is None or r.pixels[0] not in self._arrays for r in self.records):
            return False
        total = sum(array.nbytes for array in self._arrays.values())
        return total <= IN_MEMORY_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def _images(self, indices: Sequence[int]) -> tuple[np.ndarray | list[np.ndarray], list[int], list[tuple]]:
        """The resized uint8 images of ``indices`` that could be read, their positions, and (position, error)."""
        records = [self.records[i] for i in indices]
        files = {record.pixels[0] if record.pixels else None for record in records}
        if files <= self._arrays.keys() and len({self._arrays[f].shape[1:] for f in files}) == 1:  # type: ignore
            return self._gather(records, files), list(range(len(records))), []  # type: ignore[arg-type]
        images, good, bad = [], [], []
        for position, record in enumerate(records):
            try:
                images.append(self.preprocess.resize_image(read_pixels(record, min_size=self.preprocess.resize)))
                good.append(position)
            except ImageLoadError as exc:
                bad.append((position, str(exc)))
        return images, good, bad

    def _gather(self, records: list[Record], files: set[str]) -> np.ndarray:
        """Rows of same-shaped arrays as one (B, H, W, 3) array: one fancy index per array."""
        if len(files) == 1:
            return self._arrays[next(iter(files))][np.array([r.pixels[1] for r in records])]  # type: ignore[index]
        out = np.empty((len(records), *self._arrays[next(iter(files))].shape[1:]), dtype=np.uint8)
        for file in files:
            positions = [i for i, record in enumerate(records) if record.pixels[0] == file]  # type: ignore[index]
            out[positions] = self._arrays[file][np.array([records[i].pixels[1] for i in positions])]  # type: ignore
        return out

    def _reseed_in_worker(self) -> None:
        worker = torch.utils.data.get_worker_info()
        if worker is not None and worker.seed != self._worker_seed:
            self._worker_seed = worker.seed
            self.rng = np.random.default_rng(worker.seed % 2**32)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        """One batch: ``image`` (B, 3, S, S) float32, each target, ``index``; ``skipped``/``skipped_index`` list the
        unreadable records (a batch with none readable has no ``image``)."""
        self._reseed_in_worker()
        indices = list(indices)
        images, good, bad = self._images(indices)
        batch: dict[str, Any] = {}
        if good:
            shapes = np.array([image.shape[:2] for image in images]) if isinstance(images, list) else None
            if shapes is None:
                shapes = np.tile(np.array(images.shape[1:3]), (len(images), 1))
            size = self.preprocess.image_size
            draws = batch_augment.draw(self.preset, shapes, size, self.rng)
            batch["image"] = batch_augment.augment(images, draws, size, self.preprocess.mean, self.preprocess.std)
            chosen = torch.tensor([indices[p] for p in good], dtype=torch.int64)
            batch.update({key: values[chosen] for key, values in self.targets.items()})
            batch["index"] = chosen
        batch["skipped"] = [message for _, message in bad]
        batch["skipped_index"] = [indices[p] for p, _ in bad]
        return batch


def whole_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """The DataLoader's ``collate_fn`` for datasets whose ``__getitems__`` already returns the batch."""
    return batch
