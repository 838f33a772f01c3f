"""Self-paced balance learning (SPBL) as a task: a CNN and an RBF SVM on its features, trained in paced rounds.

Method: J. Yang, X. Wu, J. Liang, X. Sun, M.-M. Cheng, P. L. Rosin, L. Wang, "Self-paced balance learning for
clinical skin disease recognition", IEEE Transactions on Neural Networks and Learning Systems 31(8), 2020 (online
2019); the algorithm as METHODS.md section 3 states it. The definition half (numpy only, shared with an ONNX
runtime): options, outputs, post-processing with the SVM applied from its stored arrays, the ``--head`` choice, CSV
columns and headline metrics. It subclasses :class:`~dermkit.tasks.classify.Classify` for everything a classifier
shares. ``dermkit train`` defers to :meth:`SPBL.run`, the multi-stage driver in :mod:`dermkit.tasks.spbl_rounds`.

The exported network returns ``(logits, features)``: the CNN's logits and its LeakyReLU(0.1) pooled feature. The
model folder holds ``model.safetensors`` (the CNN) and ``svm.safetensors`` (the SVM's arrays, no pickle), named in
``model.json``'s task block with the head that won on validation (``head``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from dermkit.errors import ConfigError, ModelFileError
from dermkit.tasks.base import Built, TaskOptions, register_task
from dermkit.tasks.classify import CV_METRICS, Classify, class_probabilities, decide, stored_threshold

if TYPE_CHECKING:  # pragma: no cover
    from dermkit.config import RunConfig
    from dermkit.data.records import ImageTable
    from dermkit.models.spec import ModelSpec
    from dermkit.models.svm import SVMArrays

HEADS = ("svm", "cnn", "both")
LONGTAIL_METRICS = (
    "g_mean_spbl",
    "weighted_pr_harmonic",
    "many_shot_accuracy",
    "medium_shot_accuracy",
    "few_shot_accuracy",
)
SVM_FILE = "svm.safetensors"


class SPBLOptions(TaskOptions):
    """Options of the ``spbl`` task (METHODS.md section 3; defaults are the reference code's).

    Attributes:
        train_ratio: share of each class in the initial easy set S0 (``ceil(ratio * n_c)`` images).
        pace: the pace ("age") schedule: one pool ratio per round, non-decreasing, in (0, 1].
        leaky_slope: negative slope of the LeakyReLU on the pooled feature the SVM sees.
        svm_c: the SVM's regularisation C.
        svm_gamma: the RBF gamma; None is scikit-learn's ``"scale"``.
        cost_low, cost_high: range of the random consistent costs (class weights of the SVM).
        head: the head a trained model predicts with: ``auto`` (the one that won on validation), ``svm``, ``cnn`` or
            ``both`` (the mean of the two heads' probabilities).
        select_by: the validation metric that picks the head.
        keep_checkpoints: keep every round's Lightning checkpoints (each round's weights and state stay anyway).
    """

    train_ratio: float = Field(0.2, gt=0.0, lt=1.0)
    pace: list[float] = Field(default_factory=lambda: [0.5, 0.75, 0.9, 1.0, 1.0])
    leaky_slope: float = Field(0.1, ge=0.0)
    svm_c: float = Field(1.0, gt=0.0)
    svm_gamma: float | None = Field(None, gt=0.0)
    cost_low: float = Field(1.0, gt=0.0)
    cost_high: float = Field(10.0, gt=0.0)
    head: Literal["auto", "svm", "cnn", "both"] = "auto"
    select_by: Literal[
        "accuracy", "balanced_accuracy", "macro_f1", "g_mean", "mauc", "g_mean_spbl", "weighted_pr_harmonic"
    ] = "balanced_accuracy"
    keep_checkpoints: bool = False


@functools.lru_cache(maxsize=4)
def _read_svm(path: str, stamp: tuple[int, int]) -> SVMArrays:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from dermkit.models.svm import SVMArrays

    try:
        return SVMArrays.from_arrays(load_file(path))
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{path}: cannot read the SVM ({str(exc).splitlines()[0]})") from None


def load_svm(spec: ModelSpec) -> SVMArrays:
    """The SVM of an SPBL model, from the file its task block names, beside ``model.json`` (cached per file)."""
    name = spec.task_options.get("svm_file")
    if not name:
        raise ModelFileError("this SPBL model has no SVM yet (model.json's task block names no svm_file)")
    if spec.directory is None:
        raise ModelFileError(f"the SVM head reads {name} beside model.json: load the model from its folder")
    path = Path(spec.directory) / name
    if not path.is_file():
        raise ModelFileError(f"{path}: SVM file missing beside model.json")
    stat = path.stat()
    return _read_svm(str(path), (stat.st_mtime_ns, stat.st_size))


def resolved_head(spec: ModelSpec) -> str:
    """The head ``spec`` predicts with: its task block's ``head``; ``cnn`` while no SVM is stored."""
    head = spec.task_options.get("head", "auto")
    if not spec.task_options.get("svm_file"):
        return "cnn"
    return (spec.task_options.get("val_winner") or "svm") if head == "auto" else head


def choose_head(spec: ModelSpec, head: str) -> None:
    """Make ``spec`` predict with ``head`` (``svm``, ``cnn`` or ``both``): what ``--head`` does.

    Raises:
        ConfigError: another task's model, an unknown head, or an SVM head asked of a model without an SVM.
    """
    if spec.task != SPBL.name:
        raise ConfigError(f"--head applies to SPBL models (task spbl); this model's task is '{spec.task}'")
    if head not in HEADS:
        raise ConfigError(f"unknown --head '{head}'; choose one of: {', '.join(HEADS)}")
    if head != "cnn" and not spec.task_options.get("svm_file"):
        raise ConfigError(f"--head {head}: this SPBL model stores no SVM (only its CNN); use --head cnn")
    spec.task_options["head"] = head


def svm_probabilities(features: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """SPBL's SVM probabilities: softmax of the stored SVM's decision values, averaged over views.

    Args:
        features: (V, N, D) pooled LeakyReLU features of V test-time views.
        spec: the model's description (locates the SVM).

    Returns:
        (N, C) probabilities, columns in the model's class order.
    """
    from dermkit.models.svm import decision_function, svm_scores

    svm = load_svm(spec)
    num_classes = len(spec.class_names)
    if svm.classes.tolist() != list(range(num_classes)):
        raise ModelFileError(f"the SVM's classes {svm.classes.tolist()} are not the model's 0..{num_classes - 1}")
    return np.mean([svm_scores(decision_function(svm, view)) for view in features], axis=0)


@register_task
class SPBL(Classify):
    """Self-paced balance learning (Yang, Wu et al., IEEE TNNLS 2020): long-tailed clinical skin disease."""

    name = "spbl"
    options = SPBLOptions
    outputs = ("logits", "features")
    calibratable = False  # a temperature on the CNN's logits says nothing of the SVM head

    def parse_options(self, section: Mapping[str, Any]) -> SPBLOptions:
        from dermkit.tasks.spbl_selection import validate_pace

        options = super().parse_options(section)
        validate_pace(options.pace)  # one ConfigError line naming task.pace
        if options.cost_high < options.cost_low:
            raise ConfigError(f"task.cost_high ({options.cost_high}) must be >= task.cost_low ({options.cost_low})")
        return options  # type: ignore[return-value]

    def build(self, config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]) -> Built:
        from dermkit.models.factory import FeatureClassifier
        from dermkit.tasks.spbl_training import SPBLTrainingTask

        options = self.parse_options(config.task)
        built = super().build(config, class_names, class_counts)
        loss, model = built.module.loss, built.module.model
        if getattr(loss, "output", "softmax") != "softmax":
            raise ConfigError(
                f"loss.name '{config.loss.name}': task spbl trains a softmax CNN; use a softmax loss "
                "(ce, focal, class_balanced...)"
            )
        network = FeatureClassifier(model.backbone, model.head, options.leaky_slope)
        module = SPBLTrainingTask(network, loss, len(class_names), freeze_batchnorm=config.model.freeze_batchnorm)
        return Built(module, {**built.architecture, "features_slope": options.leaky_slope})

    def run(self, config: RunConfig, out_dir: str | Path, **train_kwargs: Any) -> Any:
        """Train by SPBL's rounds (:func:`dermkit.tasks.spbl_rounds.train_spbl`); ``dermkit train`` defers here."""
        from dermkit.tasks.spbl_rounds import train_spbl

        return train_spbl(config, Path(out_dir), **train_kwargs)

    def postprocess(self, raw: Mapping[str, np.ndarray], spec: ModelSpec) -> dict[str, np.ndarray]:
        logits = raw["logits"]
        cnn = class_probabilities(logits, "softmax", spec.decision.temperature).mean(axis=0)
        out = {"logits": logits[0], "proba_cnn": cnn}
        head = resolved_head(spec)
        if head == "cnn":
            return {**out, "proba": cnn}
        svm = svm_probabilities(raw["features"], spec)
        return {**out, "proba_svm": svm, "proba": svm if head == "svm" else (svm + cnn) / 2.0}

    def csv_header(self, spec: ModelSpec, labelled: bool) -> list[str]:
        extra = ["predicted_cnn", "predicted_svm"] if resolved_head(spec) == "both" else []
        return [*super().csv_header(spec, labelled), *extra]

    def csv_rows(
        self,
        spec: ModelSpec,
        outputs: Mapping[str, np.ndarray],
        readable: np.ndarray,
        targets: Mapping[str, np.ndarray] | None = None,
    ) -> list[list[Any]]:
        rows = super().csv_rows(spec, outputs, readable, targets)
        if resolved_head(spec) != "both":
            return rows
        names, threshold = spec.class_names, stored_threshold(spec)
        for key in ("proba_cnn", "proba_svm"):
            decided = decide(np.nan_to_num(outputs[key]), threshold)
            for row, ok, index in zip(rows, readable, decided, strict=True):
                row.append(names[index] if ok else "")
        return rows

    def headline(self) -> list[str]:
        return [*CV_METRICS, *LONGTAIL_METRICS]

    def spec_block(self, options: Any) -> dict[str, Any]:
        return {**options.model_dump(mode="json"), "svm_file": None}

    def evaluate(self, predictor: Any, table: ImageTable, **options: Any) -> Any:
        """The classifier's evaluation of the chosen head; with head ``both`` also ``metrics["heads"]``: the headline
        metrics of the CNN, the SVM and their mean, each alone."""
        evaluation = super().evaluate(predictor, table, **options)
        if resolved_head(predictor.spec) == "both":
            evaluation.metrics["heads"] = head_metrics(evaluation, predictor.spec)
        return evaluation


def head_metrics(evaluation: Any, spec: ModelSpec) -> dict[str, dict[str, float | None]]:
    """Headline metrics of each head (``cnn``, ``svm``, ``both``) from an evaluation made with head ``both``."""
    from dermkit.evaluation.classification import training_counts
    from dermkit.metrics.classification import classification_metrics

    ok = evaluation.readable & (evaluation.labels >= 0)
    y, train = evaluation.labels[ok], training_counts(spec)
    probas = {"cnn": evaluation.outputs["proba_cnn"], "svm": evaluation.outputs["proba_svm"]}
    probas["both"] = (probas["cnn"] + probas["svm"]) / 2.0
    out = {}
    for head, proba in probas.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined metrics are the evaluation's warnings already
            metrics = classification_metrics(
                y, proba[ok], spec.class_names, threshold=stored_threshold(spec), train_counts=train
            )
        flat = {**{f"macro_{key}": value for key, value in metrics["macro"].items()}, **metrics}
        out[head] = {name: _number(flat.get(name)) for name in (*CV_METRICS, *LONGTAIL_METRICS)}
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else None
