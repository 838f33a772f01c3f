"""SPBL's two heads: the SVM fit of a round, the pooled features it sees, and the choice between the heads.

Self-paced balance learning (Yang, Wu et al., "Self-paced balance learning for clinical skin disease recognition",
IEEE TNNLS 2020) ends with a CNN and an RBF SVM on its LeakyReLU pooled features. Each round stores its SVM beside its
CNN and evaluates the SVM, the CNN and their mean (``both``) on the validation images carved from training data; the
run's model predicts with the head that scores best there (``task.select_by``). The round loop is
:mod:`dermkit.tasks.spbl_rounds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dermkit.config import DataConfig
from dermkit.data.dataset import ImageDataset, make_loader
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import ImageTable, Record
from dermkit.engine.train import TrainResult
from dermkit.errors import DataError
from dermkit.evaluation.evaluate import evaluate
from dermkit.fileio import write_bytes, write_json
from dermkit.inference.predictor import Predictor
from dermkit.models.artifact import read_spec, write_spec
from dermkit.models.backbones import pooled_width
from dermkit.models.svm import SVMArrays, fit_svm
from dermkit.tasks import spbl_store as store
from dermkit.tasks.spbl import HEADS, SVM_FILE, SPBLOptions

log = logging.getLogger("dermkit")


def fit_round_svm(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, k: int, options: SPBLOptions) -> Any:
    """Fit round ``k``'s RBF SVM with per-sample weights (SPBL steps 3 and 5f; Yang, Wu et al., IEEE TNNLS 2020).

    Args:
        features: (M, D) LeakyReLU pooled features.
        labels: (M,) class indices.
        weights: (M,) positive sample weights.
        k: the round, for the error message.
        options: the task's options (``svm_c``, ``svm_gamma``).

    Returns:
        The fitted :class:`~dermkit.models.svm.SVMArrays`.

    Raises:
        DataError: the fit cannot run (e.g. one class selected), one line naming the round and the reason.
    """
    try:
        return fit_svm(features, labels, weights, C=options.svm_c, gamma=options.svm_gamma or "scale")
    except ValueError as exc:
        raise DataError(f"SPBL round {k}: the SVM cannot be fitted: {exc}") from None


@torch.inference_mode()
def pooled_features(
    model: torch.nn.Module,
    records: Sequence[Record],
    preprocess: Preprocess,
    batch_size: int,
    num_workers: int,
    where: str,
) -> np.ndarray:
    """The LeakyReLU pooled features (the network's second output) of ``records``, in order, without augmentation.

    Args:
        model: a network returning ``(logits, features)``.
        records: the images.
        preprocess: the model's evaluation preprocessing.
        batch_size: images per forward pass.
        num_workers: decoding processes.
        where: what the error message names (``SPBL round k``).

    Returns:
        (N, D) float32.

    Raises:
        DataError: an image cannot be read (SPBL needs the feature of every training image).
    """
    model.eval()
    out: np.ndarray | None = None
    for batch in make_loader(ImageDataset(records, preprocess), batch_size, num_workers=num_workers):
        if batch["skipped"]:
            raise DataError(
                f"{where}: {batch['skipped'][0]}; SPBL needs every training image (remove it from the data)"
            )
        features = model(batch["image"])[1].float().cpu().numpy()
        if out is None:
            out = np.empty((len(records), features.shape[1]), dtype=np.float32)
        out[batch["index"].numpy()] = features
    return out if out is not None else np.zeros((0, pooled_width(model.backbone)), dtype=np.float32)


def winner(scores: dict[str, float | None]) -> str:
    """The head with the best validation score (ties: svm, then cnn, then both)."""
    return max(HEADS, key=lambda head: (-np.inf if scores[head] is None else scores[head], -HEADS.index(head)))


def _evaluate(folder: Path, val: ImageTable, data: DataConfig) -> Any:
    batch_size = data.eval_batch_size or data.batch_size
    return evaluate(Predictor.from_checkpoint(folder), val, batch_size=batch_size, num_workers=data.num_workers)


def evaluate_heads(folder: Path, svm: SVMArrays, val: ImageTable, data: DataConfig, metric: str) -> dict[str, Any]:
    """Store a round's SVM beside its CNN, evaluate the three heads on ``val`` and make the best one the round
    model's head; returns each head's validation metrics."""
    store.write_svm(folder, svm)
    spec = read_spec(folder)
    spec.task_options.update(svm_file=SVM_FILE, head="both")
    write_spec(folder, spec)
    heads = _evaluate(folder, val, data).metrics["heads"]
    scores = {head: heads[head].get(metric) for head in HEADS}
    spec.task_options.update(head=winner(scores), val_winner=winner(scores), val_scores=scores)
    write_spec(folder, spec)
    return heads


def log_round(summary: dict[str, Any], metric: str) -> None:
    """Log a round: its training images per class, class weights and each head's validation metrics."""
    pace = "initial easy set" if summary["pace"] is None else f"pace {summary['pace']:g}"
    log.info("SPBL round %d (%s): %d training images", summary["round"], pace, summary["training_images"])
    log.info("  selected per class: %s", ", ".join(f"{n} {c}" for n, c in summary["selected_per_class"].items()))
    log.info("  class weights: %s", ", ".join(f"{n} {w:.3g}" for n, w in summary["class_weights"].items()))
    for head, values in summary["val"].items():
        keys = dict.fromkeys(("accuracy", "balanced_accuracy", "macro_f1", "g_mean", metric))
        shown = ", ".join(f"{key} {values[key]:.4f}" for key in keys if values.get(key) is not None)
        log.info("  val %s: %s", head, shown)


def export_final(
    out_dir: Path, last: int, options: SPBLOptions, train: ImageTable, val: ImageTable, data: DataConfig
) -> TrainResult:
    """The run folder's model: round ``last``'s CNN and SVM, predicting with the head chosen on validation (or
    ``task.head``), with every round's summary in ``spbl_rounds.json``."""
    folder = store.round_dir(out_dir, last)
    for name in ("model.safetensors", SVM_FILE):
        write_bytes(out_dir / name, (folder / name).read_bytes())
    spec = read_spec(folder)
    spec.task_options["head"] = spec.task_options["val_winner"] if options.head == "auto" else options.head
    spec.training["data"]["train"] = train.class_counts()  # every training image: the shot groups' sizes
    spec.training["spbl"] = {"rounds": last + 1, "pace": options.pace, "rounds_file": store.ROUNDS_SUMMARY}
    write_spec(out_dir, spec)
    write_json(out_dir / store.ROUNDS_SUMMARY, [store.read_summary(out_dir, k) for k in range(last + 1)])
    metrics = _evaluate(out_dir, val, data).metrics
    write_json(out_dir / "val_metrics.json", metrics)
    spec.metrics = {"val": metrics}
    write_spec(out_dir, spec)
    best = folder / "best.ckpt"
    return TrainResult(
        out_dir, best if best.is_file() else out_dir / "model.safetensors", metrics, spec.training.get("best_epoch")
    )
