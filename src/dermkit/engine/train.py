"""``train(config, out_dir)``: dataset -> model, loss, task -> Lightning Trainer -> exported model folder.

The run folder receives ``config.yaml`` (resolved), ``best.ckpt``/``last.ckpt`` (resume), ``logs/`` (CSV and
TensorBoard), ``model.safetensors`` + ``model.json`` (the best weights, self-describing), ``val_metrics.json`` and
``skipped_images.txt`` when some images could not be read.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from torch import distributed as dist

from dermkit.config import RunConfig, dump
from dermkit.data.cache_auto import cached_tables
from dermkit.data.preprocess import Preprocess
from dermkit.engine.checkpoint import checkpoint_step, load_task_state
from dermkit.engine.lightning import TaskModule
from dermkit.engine.precision import with_resolved_precision
from dermkit.engine.ranks import RankCheck
from dermkit.engine.setup import Components, TrainingData, build_components, load_training_data, make_loaders
from dermkit.engine.trainer import make_callbacks, make_trainer
from dermkit.errors import ConfigError, DermkitError
from dermkit.evaluation import evaluate
from dermkit.fileio import check_output, is_refusal, make_folder, output_error, write_json, write_text
from dermkit.inference.predictor import Predictor
from dermkit.models.artifact import Architecture, Decision, ModelSpec, save_model, write_spec
from dermkit.tasks import get_task

log = logging.getLogger("dermkit")
RUN_FILES = ("best.ckpt", "last.ckpt", "model.safetensors", "model.json", "val_metrics.json", "skipped_images.txt")


@dataclass
class TrainResult:
    """What a finished run produced.

    ``primary`` is False in the extra processes of a multi-process (DDP) run: only global rank 0 exports the model
    and evaluates it, so those processes return without metrics.
    """

    out_dir: Path
    best_checkpoint: Path
    val_metrics: dict[str, Any]
    best_epoch: int | None
    skipped: list[str] = field(default_factory=list)
    primary: bool = True
    nonfinite_skipped: int = 0


def _prepare_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> Path | None:
    check_output(out_dir, "folder")  # a file in the way, a read-only or full disk: said now, not after training
    last = out_dir / "last.ckpt"
    if resume:
        if not last.is_file():
            raise ConfigError(f"{out_dir}: nothing to resume (no last.ckpt); drop --resume to start a new run")
        return last
    if last.exists() or (out_dir / "model.json").exists():
        if not overwrite:
            raise ConfigError(
                f"{out_dir} already holds a run; pass --resume to continue it, --overwrite to start "
                "over, or --out to train elsewhere"
            )
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        shutil.rmtree(out_dir / "logs", ignore_errors=True)
    make_folder(out_dir)
    return None


def _skipped_on_every_process(local: list[str]) -> list[str]:
    """The unreadable images skipped by all DDP processes (each saw only its shard), in first-seen order."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    gathered: list[list[str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    return list(dict.fromkeys(error for part in gathered for error in part or ()))


@dataclass
class Run:
    """A run after the build stage: its config, data, components and loaders (see :func:`build_run`)."""

    config: RunConfig
    out_dir: Path
    data: TrainingData
    parts: Components
    preprocess: Preprocess
    module: TaskModule
    train_loader: Any
    val_loader: Any


@dataclass
class Fitted:
    """What the fit stage leaves: the best checkpoint, its score and epoch, and the images skipped."""

    best_path: Path
    best_score: float | None
    epochs_run: int
    skipped: list[str]
    primary: bool
    nonfinite_skipped: int = 0


def build_run(config: RunConfig, out_dir: Path, *, data: TrainingData | None = None, strict: bool = False) -> Run:
    """Stage 1: read the data (unless given), let the task check it, and build model, loss, task and loaders."""
    data = data if data is not None else load_training_data(config)
    parts = build_components(config, data.class_names, data.train.class_counts())
    config = with_resolved_precision(config, parts.model)  # trainer.precision=auto: bf16 where it pays
    options = parts.definition.parse_options(config.task)
    both = data.train.with_records([*data.train.records, *data.val.records])
    for line in parts.definition.check_data(both, options, strict=strict):
        log.warning("%s", line)
    d = config.data
    if d.resolved_resize > 1.5 * d.image_size:  # e.g. data.image_size overridden while the recipe's resize stays
        log.warning("data.resize (%d) is %.1fx data.image_size (%d): the centre crop keeps only the middle of each "
                    "image; set data.resize too (e.g. %d)", d.resolved_resize, d.resolved_resize / d.image_size,
                    d.image_size, round(d.image_size * 256 / 224))  # fmt: skip
    preprocess = Preprocess(d.image_size, d.resolved_resize, d.resize_mode, d.mean, d.std)
    train, val = cached_tables([data.train, data.val], d.cache, preprocess)  # data.cache: decode once, read rows
    data = replace(data, train=train, val=val)
    train_pre = preprocess.with_resize(d.resolved_train_resize)
    train_loader, val_loader = make_loaders(config, data, preprocess, parts.definition.item_targets, train_pre)
    speed = config.trainer.model_dump(include={"channels_last", "compile", "skip_nonfinite"})
    module = TaskModule(parts.task, config.optim.model_dump(), config.sched.model_dump(), strict=strict, **speed)
    return Run(config, out_dir, data, parts, preprocess, module, train_loader, val_loader)


def fit(run: Run, *, ckpt_path: Path | None = None, callbacks: Sequence[L.Callback] = ()) -> Fitted:
    """Stage 2: train with Lightning (``ckpt_path`` resumes), keeping the best checkpoint by the monitor."""
    monitors = ["val/loss", "train/loss", *run.module.val_metrics.keys()]
    best_cb, own_callbacks = make_callbacks(run.config, run.out_dir, monitors)
    own_callbacks.append(RankCheck(run.data))
    resume_step = checkpoint_step(ckpt_path) if ckpt_path else None
    trainer = make_trainer(run.config, run.out_dir, [*own_callbacks, *callbacks], resume_step)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        # default_root_dir already holds config.yaml (and, on --resume, the checkpoints Lightning warns about)
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        warnings.filterwarnings("ignore", message=".*treespec.*")
        warnings.filterwarnings("ignore", message=".*`training_step` returned `None`.*")  # a skipped NaN batch
        try:
            trainer.fit(run.module, run.train_loader, run.val_loader, ckpt_path=ckpt_path)
        except OSError as exc:  # the disk filled up or turned read-only under Lightning's logs or checkpoints
            if isinstance(exc, DermkitError) or not is_refusal(exc):
                raise
            raise output_error(exc.filename or run.out_dir, exc) from None
    best_path = Path(best_cb.best_model_path) if best_cb.best_model_path else run.out_dir / "last.ckpt"
    score = float(best_cb.best_model_score) if best_cb.best_model_score is not None else None
    skipped = _skipped_on_every_process(list(run.module.skipped))
    return Fitted(
        best_path, score, trainer.current_epoch, skipped, trainer.is_global_zero, run.module.nonfinite.skipped
    )


def export(run: Run, fitted: Fitted) -> TrainResult:
    """Stage 3: load the best weights, write ``model.safetensors`` + ``model.json`` and evaluate on val."""
    if not fitted.primary:
        return TrainResult(run.out_dir, fitted.best_path, {}, None, primary=False)
    config, data, parts, out_dir = run.config, run.data, run.parts, run.out_dir
    weights, meta = load_task_state(fitted.best_path)
    parts.model.load_state_dict(weights)
    definition = parts.definition
    spec = ModelSpec(
        task=definition.name,
        task_options=definition.spec_block(definition.parse_options(config.task)),
        outputs=list(definition.outputs),
        output=getattr(parts.task, "output", "softmax"),
        architecture=Architecture(**parts.architecture),
        class_names=data.class_names,
        preprocessing=run.preprocess.to_dict(),
        decision=Decision(**definition.decision(data.class_names)),
        training=_training_block(config, data, fitted, meta.get("epoch")),
    )
    save_model(out_dir, parts.model, spec)
    d = config.data
    val = evaluate(Predictor(parts.model, spec), data.val, batch_size=d.eval_batch_size or d.batch_size,
                   num_workers=d.num_workers)  # fmt: skip
    write_json(out_dir / "val_metrics.json", val.metrics)
    spec.metrics = {"val": val.metrics}
    write_spec(out_dir, spec)
    if fitted.skipped:
        write_text(out_dir / "skipped_images.txt", "\n".join(fitted.skipped) + "\n")
    return TrainResult(
        out_dir,
        fitted.best_path,
        val.metrics,
        meta.get("epoch"),
        fitted.skipped,
        nonfinite_skipped=fitted.nonfinite_skipped,
    )


def _training_block(config: RunConfig, data: TrainingData, fitted: Fitted, best_epoch: int | None) -> dict:
    root = config.data.root
    return {
        "config": config.model_dump(mode="json"),
        "data": {
            "source": data.source,
            # where data.root pointed, resolved at training time (evaluate recognises the training data by it)
            "root": str(Path(root).expanduser().resolve()) if root else None,
            "train": data.train.class_counts(),
            "val": data.val.class_counts(),
            "val_source": data.val_source,
        },
        "monitor": config.trainer.monitor,
        "best_score": fitted.best_score,
        "best_epoch": best_epoch,
        "epochs_run": fitted.epochs_run,
        "nonfinite_skipped": fitted.nonfinite_skipped,
    }


def train(
    config: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    strict: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[L.Callback] = (),
    data: TrainingData | None = None,
) -> TrainResult:
    """Train ``config`` into ``out_dir`` and export the best weights as a self-describing model: the three stages
    :func:`build_run`, :func:`fit` and :func:`export`, which multi-stage methods call themselves. A task definition
    with a ``run(config, out_dir, **train_kwargs) -> TrainResult`` method (SPBL) is run by it instead, with this
    function's keyword arguments.

    Args:
        config: the validated run configuration.
        out_dir: the run folder.
        resume: continue from ``out_dir/last.ckpt``.
        strict: stop at the first unreadable image (or data the task finds inconsistent) instead of skipping it.
        overwrite: replace an earlier run in ``out_dir``.
        callbacks: extra Lightning callbacks (timers, custom loggers...).
        data: train/val records chosen by the caller (cross-validation); default: read ``config.data.root``.
    """
    out_dir = Path(out_dir)
    definition = get_task(config.task_name)
    if callable(getattr(definition, "run", None)):  # a multi-stage method (SPBL's rounds) drives the stages itself
        return definition.run(config, out_dir, resume=resume, strict=strict, overwrite=overwrite,
                              callbacks=callbacks, data=data)  # fmt: skip
    ckpt_path = _prepare_out_dir(out_dir, resume, overwrite)
    L.seed_everything(config.seed, workers=True, verbose=False)
    run = build_run(config, out_dir, data=data, strict=strict)
    if rank_zero_only.rank == 0:  # the launcher's rank (torchrun, srun, Lightning's own processes): one writer
        write_text(out_dir / "config.yaml", dump(config))
    return export(run, fit(run, ckpt_path=ckpt_path, callbacks=callbacks))
