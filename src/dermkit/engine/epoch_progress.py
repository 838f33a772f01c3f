"""A Lightning callback that reports finished epochs to a ``progress(done, total)`` callback.

Where Lightning draws no bar (stderr is not a terminal, ``--quiet``), ``dermkit train`` passes it a
:func:`dermkit.progress.track` step, so a log still shows how far training got.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L


class EpochProgress(L.Callback):
    """Calls ``progress(epochs finished, max_epochs)`` after each training epoch, on every process (each rank of a
    multi-process run reports its own progress; ``dermkit train`` labels each rank's lines).

    Args:
        progress: the callback, e.g. a :class:`dermkit.progress.Tracker`.
    """

    def __init__(self, progress: Callable[[int, int], None]) -> None:
        self.progress = progress

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.progress(trainer.current_epoch + 1, trainer.max_epochs)
