"""From a config to the pieces of a run: the train/val data and the model, loss and task.

Config values reach components only here, through the ``create_<kind>()`` factories; every factory error becomes a
one-line :class:`ConfigError` naming the config key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from dermkit.config import RunConfig
from dermkit.data import read_dataset
from dermkit.data.duplicates import leak_free_groups
from dermkit.data.loaders import Targets, training_loaders
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import ImageTable
from dermkit.data.splits import stratified_group_split
from dermkit.errors import ConfigError, DataError
from dermkit.tasks import Task, get_task
from dermkit.tasks.base import config_error
from dermkit.tasks.training import TrainingTask

log = logging.getLogger("dermkit")
T = TypeVar("T")


@dataclass
class TrainingData:
    """The splits a run trains and selects on (never the test split)."""

    train: ImageTable
    val: ImageTable
    class_names: list[str]
    source: str
    val_source: str


@dataclass
class Components:
    """The network, its loss, the trainable task module that joins them, the task definition and the architecture
    stored in ``model.json``."""

    model: nn.Module
    loss: nn.Module
    task: TrainingTask
    definition: Task
    architecture: dict[str, Any]


def read_config_data(config: RunConfig, class_names: Sequence[str] | None = None) -> ImageTable:
    """Read ``config.data.root`` with the config's reader options."""
    d = config.data
    if d.root is None:
        raise ConfigError("data.root is not set; pass data.root=PATH (a folder or a CSV manifest)")
    return read_dataset(
        d.root,
        d.format,
        class_names=class_names or d.class_names,
        path_column=d.path_column,
        label_column=d.label_column,
        split_column=d.split_column,
        group_column=d.group_column,
        images_dir=d.images_dir,
        count_column=d.count_column,
        fold=d.fold,
    )


def _binary_order(table: ImageTable, positive: str | None) -> list[str] | None:
    """Class order putting ``positive`` at index 1 for two classes (None: keep the sorted order)."""
    if positive is None:
        return None
    if positive not in table.class_names:
        raise ConfigError(f"data.positive_class '{positive}' is not a class; classes: {', '.join(table.class_names)}")
    if table.num_classes != 2:
        raise ConfigError(f"data.positive_class applies to two classes; this dataset has {table.num_classes}")
    return [name for name in table.class_names if name != positive] + [positive]


def read_training_table(config: RunConfig) -> ImageTable:
    """Read ``data.root``, with the positive class (``data.positive_class``) at index 1 for two classes."""
    table = read_config_data(config)
    order = _binary_order(table, config.data.positive_class)
    if order is not None and order != table.class_names:
        table = read_config_data(config, order)
    return table


def hold_out(
    pool: ImageTable, fraction: float, seed: int, groups: Sequence[int] | None = None
) -> tuple[ImageTable, ImageTable]:
    """Split ``pool`` into train and val, stratified by class; patients (``Record.group``) and byte-identical files
    stay on one side.

    ``groups`` are the pool's :func:`~dermkit.data.duplicates.leak_free_groups` when the caller has them already
    (cross-validation hashes the files once for all folds); otherwise they are computed here.
    """
    if len(pool) < 2:
        raise DataError(f"{pool.source}: too few training images ({len(pool)}) to hold out a validation set")
    if groups is None:
        paths, patients = [r.path for r in pool.records], [r.group for r in pool.records]
        groups, _ = leak_free_groups(paths, patients, skip_unreadable=True)
    assigned = stratified_group_split(
        pool.labels(), {"train": 1.0 - fraction, "val": fraction}, groups=groups, seed=seed
    )
    train = pool.with_records([r for r, s in zip(pool.records, assigned, strict=True) if s == "train"])
    val = pool.with_records([r for r, s in zip(pool.records, assigned, strict=True) if s == "val"])
    return train, val


def training_data(
    table: ImageTable, val_fraction: float, seed: int, groups: Sequence[int] | None = None
) -> TrainingData:
    """Pick train and validation records (never test) and check that a classifier can be trained on them.

    Uses the table's own train/val splits when present; otherwise holds out ``val_fraction`` of the training images
    (:func:`hold_out`; ``groups``, one per record of an unsplit ``table``, are passed on to it).
    """
    splits = table.splits
    if "train" in splits and "val" in splits:
        train, val, val_source = table.subset("train"), table.subset("val"), "the dataset's val split"
    else:
        pool = table.subset("train") if "train" in splits else table
        train, val = hold_out(pool, val_fraction, seed, groups if pool is table else None)
        val_source = f"{val_fraction:.0%} of the training images held out (seed {seed})"
    counts = train.class_counts()
    if table.num_classes < 2 or sum(1 for count in counts if count) < 2:
        present = [name for name, count in zip(table.class_names, counts, strict=True) if count]
        raise DataError(
            f"{table.source}: a classifier needs at least two classes with training images; found "
            f"{len(present)} ({', '.join(present) or 'none'})"
        )
    empty = [name for name, count in zip(table.class_names, counts, strict=True) if count == 0]
    if empty:
        raise DataError(f"{table.source}: class '{empty[0]}' has no training images; add images or remove the class")
    if not val.records:
        raise DataError(f"{table.source}: the validation set is empty; add images or raise data.val_fraction")
    return TrainingData(train, val, table.class_names, table.source, val_source)


def load_training_data(config: RunConfig) -> TrainingData:
    """Read ``data.root`` and pick its train and validation records (see :func:`training_data`)."""
    return training_data(read_training_table(config), config.data.val_fraction, config.seed)


def build_components(config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]) -> Components:
    """Build the run's trainable task module through its task definition (model and loss through their factories).

    Any factory error is a one-line :class:`ConfigError` naming the config section at fault.
    """
    definition = get_task(config.task_name)
    built = config_error("task", lambda: definition.build(config, class_names, class_counts))
    module = built.module
    return Components(module.model, module.loss, module, definition, built.architecture)


def make_loaders(
    config: RunConfig, data: TrainingData, preprocess: Preprocess, targets: Targets, train_preprocess: Preprocess
) -> tuple[Any, Any]:
    """The run's training and validation loaders from the ``data`` section (see
    :func:`dermkit.data.loaders.training_loaders`); ``train_preprocess`` resizes before the training crop."""
    d = config.data
    return training_loaders(data.train, data.val, preprocess, train_preprocess=train_preprocess,
                            transform=d.train_transform, targets=targets,
                            batch_size=d.batch_size, eval_batch_size=d.eval_batch_size, num_workers=d.num_workers,
                            sampler=d.sampler, drop_last=d.drop_last, seed=config.seed,
                            epochs=config.trainer.max_epochs)  # fmt: skip
