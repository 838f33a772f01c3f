"""SPBL's multi-stage training: paced rounds of CNN fine-tuning, SVM fitting and class-balanced selection.

Self-paced balance learning: J. Yang, X. Wu, J. Liang, X. Sun, M.-M. Cheng, P. L. Rosin, L. Wang, "Self-paced
balance learning for clinical skin disease recognition", IEEE TNNLS 31(8), 2020; steps as METHODS.md section 3.

1. Per class, ``ceil(task.train_ratio * n_c)`` random training images form the easy set S0; the rest is the pool U.
2. Round 0: fine-tune the CNN on S0 (the engine's ``build_run`` / ``fit`` / ``export``); fit an RBF SVM on S0's
   LeakyReLU pooled features with unit weights, which then decay to ``train_ratio``; score U by the softmax of the
   SVM's decision values.
3. Round k (pace ratio r_k): class-balanced self-paced selection of U; per-class difficulty H; cost-sensitive class
   weights; the re-balancing plan; continue the CNN from the last round's weights on S0 + the selected images; fit
   the SVM on the paced pool plus the re-balanced selected features weighted by their class weights; decay those
   weights by ``r_k (1 - train_ratio) + train_ratio`` into the pool; re-score U.

Every random draw comes from one seeded numpy generator whose state each round stores, and each round's CNN training
is seeded by ``seed + k``, so ``--resume`` from the last finished round repeats what an uninterrupted run does. Model
selection uses the validation images carved from training data (never the test list): the engine keeps each round's
best epoch by ``trainer.monitor``, and the head (SVM, CNN or their mean) is chosen by ``task.select_by`` on them.
``trainer.max_epochs`` is per round.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from safetensors.torch import load_file

from dermkit.config import RunConfig, dump
from dermkit.data.preprocess import Preprocess
from dermkit.engine.setup import TrainingData, load_training_data
from dermkit.engine.train import TrainResult, build_run, export, fit
from dermkit.errors import ConfigError
from dermkit.fileio import write_text
from dermkit.models.artifact import load_model
from dermkit.models.svm import decision_function, svm_scores
from dermkit.tasks import spbl_heads as heads
from dermkit.tasks import spbl_selection as sel
from dermkit.tasks import spbl_store as store
from dermkit.tasks.base import get_task
from dermkit.tasks.spbl import SPBLOptions

log = logging.getLogger("dermkit")


@dataclass
class _Run:
    """One SPBL run: its config, options, data and where it writes."""

    config: RunConfig
    options: SPBLOptions
    out_dir: Path
    data: TrainingData
    labels: np.ndarray
    fingerprint: str
    strict: bool
    callbacks: Sequence[L.Callback]

    @property
    def names(self) -> list[str]:
        return list(self.data.class_names)


def _check_devices(config: RunConfig) -> None:
    devices, strategy = config.trainer.devices, config.trainer.strategy
    many = (isinstance(devices, int) and devices > 1) or (isinstance(devices, list) and len(devices) > 1)
    if many or str(devices) in ("-1", "auto") or "ddp" in strategy:
        raise ConfigError(
            "trainer.devices: SPBL's rounds run on one device (the selection and SVM steps between "
            "rounds are not distributed); set trainer.devices=1 trainer.strategy=auto"
        )


def _train_cnn(run: _Run, k: int, idx: np.ndarray) -> Path:
    """Round ``k``'s CNN: fine-tune on training images ``idx`` from round k-1's weights; returns the round folder."""
    folder = store.round_dir(run.out_dir, k)
    shutil.rmtree(folder, ignore_errors=True)  # an unfinished round starts over
    folder.mkdir(parents=True)
    data = run.data
    subset = TrainingData(
        data.train.with_records([data.train.records[i] for i in idx]),
        data.val,
        data.class_names,
        data.source,
        data.val_source,
    )
    L.seed_everything(run.config.seed + k, workers=True, verbose=False)
    stage = build_run(run.config, folder, data=subset, strict=run.strict)
    run.config = stage.config  # trainer.precision=auto is measured once: later rounds train as this one does
    if k > 0:
        stage.parts.model.load_state_dict(load_file(store.round_dir(run.out_dir, k - 1) / "model.safetensors"))
    export(stage, fit(stage, callbacks=run.callbacks))
    return folder


def _features(run: _Run, model: torch.nn.Module, spec: Any, idx: np.ndarray, k: int) -> np.ndarray:
    """Features of training images ``idx`` (duplicates allowed: each distinct image is run once)."""
    unique, inverse = np.unique(idx, return_inverse=True)
    d = run.config.data
    records = [run.data.train.records[i] for i in unique]
    features = heads.pooled_features(
        model,
        records,
        Preprocess.from_dict(spec.preprocessing),
        d.eval_batch_size or d.batch_size,
        d.num_workers,
        f"SPBL round {k}",
    )
    return features[inverse.reshape(-1)]


def _initial_round(run: _Run) -> store.RoundResult:
    """Round 0: the easy set S0, the CNN fine-tuned on it, the first SVM and the pool's first scores."""
    rng = np.random.default_rng(run.config.seed)
    easy, pool = sel.initial_split(run.labels, run.options.train_ratio, rng=rng)
    folder = _train_cnn(run, 0, easy)
    model, spec = load_model(folder)
    features = _features(run, model, spec, easy, 0)
    unit = np.ones(easy.size)
    svm = heads.fit_round_svm(features, run.labels[easy], unit, 0, run.options)
    state = sel.SPBLState(
        0,
        easy,
        pool,
        np.zeros(0, np.int64),
        easy.copy(),
        sel.decayed_weights(unit, 0.0, run.options.train_ratio),
        np.ones(len(run.names)),
        rng.bit_generator.state,
    )
    pool_probs = svm_scores(decision_function(svm, _features(run, model, spec, pool, 0)))
    result = store.RoundResult(state, svm, features, pool_probs)
    _finish_round(run, folder, result, features, pace=None, selected=easy)
    return result


def _pace_round(run: _Run, k: int, ratio: float, last: store.RoundResult) -> store.RoundResult:
    """Pace step ``k`` (1-based) with pool ratio ``ratio``, from the previous round's result."""
    state, labels, options = last.state, run.labels, run.options
    rng = state.rng()
    pool_labels = labels[state.pool_idx]
    selected = sel.select(pool_labels, last.pool_probs, ratio)
    h = sel.difficulty(pool_labels, last.pool_probs, selected)
    weights = sel.cost_weights(h, rng, options.cost_low, options.cost_high)
    counts = np.bincount(pool_labels[selected], minlength=len(run.names))
    delta = sel.rebalance_plan(counts, h)
    delta[counts == 0] = 0  # reading: a class with no image selected from the pool (all in S0) has none to duplicate
    train_idx = np.sort(np.concatenate([state.easy_idx, state.pool_idx[selected]]))
    sel.check_class_coverage(labels[train_idx], len(run.names), run.names)
    folder = _train_cnn(run, k, train_idx)
    model, spec = load_model(folder)
    new_idx = sel.apply_rebalance(state.pool_idx[selected], labels, delta, rng)
    pool_features = _features(run, model, spec, state.pool_idx, k)
    added = pool_features[np.searchsorted(state.pool_idx, new_idx)]  # the re-balanced selection is from the pool
    new_weights = weights[labels[new_idx]]
    svm = heads.fit_round_svm(
        np.concatenate([last.paced_features, added]),
        labels[np.concatenate([state.paced_idx, new_idx])],
        np.concatenate([state.sample_weights, new_weights]),
        k,
        options,
    )
    paced_weights = np.concatenate([state.sample_weights, sel.decayed_weights(new_weights, ratio, options.train_ratio)])
    new_state = sel.SPBLState(
        k,
        state.easy_idx,
        state.pool_idx,
        selected,
        np.concatenate([state.paced_idx, new_idx]),
        paced_weights,
        weights,
        rng.bit_generator.state,
    )
    pool_probs = svm_scores(decision_function(svm, pool_features))
    result = store.RoundResult(new_state, svm, np.concatenate([last.paced_features, added]), pool_probs)
    _finish_round(run, folder, result, added, pace=ratio, selected=train_idx)
    return result


def _finish_round(
    run: _Run, folder: Path, result: store.RoundResult, added: np.ndarray, pace: float | None, selected: np.ndarray
) -> None:
    """Evaluate, log and write round ``k``; its state file marks it finished."""
    k, names = result.state.round_index, run.names
    val = heads.evaluate_heads(folder, result.svm, run.data.val, run.config.data, run.options.select_by)
    per_class = np.bincount(run.labels[selected], minlength=len(names))
    summary = {
        "round": k,
        "pace": pace,
        "training_images": int(selected.size),
        "selected_per_class": dict(zip(names, per_class.tolist(), strict=True)),
        "class_weights": dict(zip(names, result.state.class_weights.round(6).tolist(), strict=True)),
        "val": val,
        "data_fingerprint": run.fingerprint,
    }
    store.write_round(folder, result, added, summary)
    if not run.options.keep_checkpoints:
        store.remove_checkpoints(folder)
    heads.log_round(summary, run.options.select_by)


def train_spbl(
    config: RunConfig,
    out_dir: Path,
    *,
    resume: bool = False,
    strict: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[L.Callback] = (),
    data: TrainingData | None = None,
) -> TrainResult:
    """Train SPBL into ``out_dir`` (``round_<k>/`` per round, the final model at the top); see the module docstring.

    Args:
        config: a recipe with ``task: spbl`` (``trainer.max_epochs`` epochs per round).
        out_dir: the run folder.
        resume: continue after the last finished round (an unfinished one starts over).
        strict: stop at the first unreadable image.
        overwrite: replace an earlier run in ``out_dir``.
        callbacks: extra Lightning callbacks, given to every round's fit.
        data: train/val records chosen by the caller (cross-validation); default: read ``config.data.root``.
    """
    _check_devices(config)
    options: SPBLOptions = get_task(config.task_name).parse_options(config.task)  # type: ignore[assignment]
    store.prepare_out_dir(out_dir, resume, overwrite)
    data = data if data is not None else load_training_data(config)
    run = _Run(
        config,
        options,
        out_dir,
        data,
        np.asarray(data.train.labels(), dtype=np.int64),
        store.data_fingerprint(data.train, data.val),
        strict,
        callbacks,
    )
    write_text(out_dir / "config.yaml", dump(config))
    done = store.finished_rounds(out_dir) if resume else []
    done = done[: len(options.pace) + 1]
    result = store.read_round(out_dir, done[-1], run.fingerprint) if done else _initial_round(run)
    if done:
        log.info("SPBL: resuming after round %d of %d", done[-1], len(options.pace))
    for k in range(result.state.round_index + 1, len(options.pace) + 1):
        result = _pace_round(run, k, options.pace[k - 1], result)
    return heads.export_final(out_dir, len(options.pace), options, data.train, data.val, config.data)
