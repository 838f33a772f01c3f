"""The Lightning Trainer of a run and the callbacks dermkit gives it: best and last checkpoints (atomic), the CSV and
TensorBoard logs, early stopping and the EMA of the weights. Devices, strategy and precision pass straight through
to Lightning, which judges them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from dermkit.config import RunConfig
from dermkit.engine.checkpoint import AtomicCheckpointIO, LastCheckpoint, ResumableCSVLogger
from dermkit.engine.ema import BatchNormEMA
from dermkit.engine.ranks import check_launcher
from dermkit.errors import ConfigError


def make_callbacks(config: RunConfig, out_dir: Path, monitors: list[str]) -> tuple[ModelCheckpoint, list[Any]]:
    """The run's own callbacks and, first of them, the one keeping ``best.ckpt`` by ``trainer.monitor`` (one of
    ``monitors``): ``last.ckpt`` every epoch, the learning rates, early stopping and the EMA when configured."""
    trainer_cfg = config.trainer
    if trainer_cfg.monitor not in monitors:
        raise ConfigError(
            f"trainer.monitor '{trainer_cfg.monitor}' is not logged; choose one of: {', '.join(monitors)}"
        )
    mode = trainer_cfg.resolved_monitor_mode
    best = ModelCheckpoint(
        dirpath=out_dir,
        filename="best",
        monitor=trainer_cfg.monitor,
        mode=mode,
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    # Lightning's save_last only writes when a top-k checkpoint was saved, so last.ckpt would stay at the best
    # epoch once the monitored value stops improving; --resume needs the latest epoch every time.
    last = LastCheckpoint(best, dirpath=out_dir, filename="last", save_top_k=1, enable_version_counter=False)
    callbacks: list[Any] = [best, last, LearningRateMonitor(logging_interval="epoch")]
    if trainer_cfg.early_stopping_patience:
        callbacks.append(EarlyStopping(trainer_cfg.monitor, patience=trainer_cfg.early_stopping_patience, mode=mode))
    if trainer_cfg.ema_decay:  # validation, checkpoints and the exported model then hold the averaged weights
        callbacks.append(BatchNormEMA(trainer_cfg.ema_decay, trainer_cfg.ema_bn_images))
    return best, callbacks


def make_trainer(config: RunConfig, out_dir: Path, callbacks: list[Any], resume_step: int | None = None) -> L.Trainer:
    """The Lightning Trainer for ``config``: devices, strategy and precision pass straight through.

    ``resume_step`` (the checkpoint's global step) keeps the CSV log's earlier rows on ``--resume``.
    """
    t = config.trainer
    try:
        trainer = _lightning_trainer(t, out_dir, callbacks, resume_step)
    except (ValueError, TypeError, MisconfigurationException) as exc:
        # devices/strategy/precision/accelerator are passed through; Lightning judges them
        raise ConfigError(f"trainer: {str(exc).splitlines()[0]}") from None
    check_launcher(trainer)
    return trainer


def _lightning_trainer(t: Any, out_dir: Path, callbacks: list[Any], resume_step: int | None) -> L.Trainer:
    return L.Trainer(
        default_root_dir=out_dir,
        max_epochs=t.max_epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        sync_batchnorm=t.sync_batchnorm,
        precision=t.precision,
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=t.gradient_clip_val,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        log_every_n_steps=t.log_every_n_steps,
        deterministic=t.deterministic,
        benchmark=t.benchmark and not t.deterministic,
        enable_progress_bar=t.progress_bar,
        callbacks=callbacks,
        logger=[
            ResumableCSVLogger(out_dir, name="logs", version="", resume_step=resume_step),
            TensorBoardLogger(out_dir, name="logs", version="tb"),
        ],
        plugins=[AtomicCheckpointIO()],
        enable_model_summary=False,
    )
