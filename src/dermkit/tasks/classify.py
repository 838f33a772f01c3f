"""Image classification as a task: softmax over classes, or one sigmoid logit for two classes.

The definition half of the classify task (numpy only): its outputs, post-processing (temperature, test-time
augmentation views, the stored binary threshold), predictions, CSV columns and headline metrics. The trainable half
is :class:`dermkit.tasks.classify_training.ClassifyTask`; the evaluation (operating points, thresholds, calibration
metrics) is :func:`dermkit.evaluation.classification.evaluate_classifier`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from dermkit.tasks.base import Built, Task, TaskOptions, config_error, network_options, register_task

if TYPE_CHECKING:  # pragma: no cover
    from dermkit.config import RunConfig
    from dermkit.data.records import ImageTable
    from dermkit.models.spec import ModelSpec

CV_METRICS = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1", "g_mean", "roc_auc",
              "mauc", "average_precision", "log_loss", "ece")  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    """One image's result: the predicted class and every class's probability."""

    label: str
    index: int
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "probabilities": self.probabilities}


def class_probabilities(logits: np.ndarray, output: str, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities (..., C) from logits divided by ``temperature``.

    Args:
        logits: (..., C) for ``softmax``; (..., 1) for ``sigmoid`` (the positive class's logit).
        output: ``softmax`` or ``sigmoid``.
        temperature: T > 0 (1 = uncalibrated).

    Returns:
        Probabilities in float64; for ``sigmoid`` the columns ``[1 - p, p]``.
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    if output == "sigmoid":
        positive = 1.0 / (1.0 + np.exp(-z[..., :1]))
        return np.concatenate([1.0 - positive, positive], axis=-1)
    if output != "softmax":
        raise ValueError(f"unknown output '{output}'; choose one of: softmax, sigmoid")
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def decide(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices (N,): the positive class (index 1) when its probability >= ``threshold``, else argmax."""
    proba = np.asarray(proba)
    if threshold is not None:
        return (proba[:, 1] >= threshold).astype(np.int64)
    return proba.argmax(axis=1)


def stored_threshold(spec: ModelSpec) -> float | None:
    """The binary decision threshold of a two-class model (None: argmax)."""
    return spec.decision.threshold if len(spec.class_names) == 2 else None


class ClassifyOptions(TaskOptions):
    """Options of the classify task: mixing training images in pairs (:mod:`dermkit.data.batch_mixing`).

    Attributes:
        mixup_alpha: mixup's Beta(alpha, alpha) (Zhang et al. 2018; 0.2-0.4 is usual); 0 is off.
        cutmix_alpha: CutMix's (Yun et al. 2019; usually 1.0); 0 is off.
        mix_prob: probability that a training batch is mixed.
        mix_switch_prob: with both on, the probability of CutMix rather than mixup.
    """

    mixup_alpha: float = Field(0.0, ge=0.0)
    cutmix_alpha: float = Field(0.0, ge=0.0)
    mix_prob: float = Field(1.0, ge=0.0, le=1.0)
    mix_switch_prob: float = Field(0.5, ge=0.0, le=1.0)


#: Options that shape training only; the model file does not record them.
TRAINING_OPTIONS = ("mixup_alpha", "cutmix_alpha", "mix_prob", "mix_switch_prob")


@register_task
class Classify(Task):
    """One label per image from C classes (the two binary recipes and any multi-class dataset)."""

    name = "classify"
    options = ClassifyOptions
    outputs = ("logits",)
    calibratable = True

    def build(self, config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]) -> Built:
        from dermkit.data.batch_mixing import BatchMixer
        from dermkit.losses import create_loss, num_outputs
        from dermkit.models import create_model
        from dermkit.tasks.classify_training import ClassifyTask

        options = self.parse_options(config.task)
        lc = config.loss
        # every loss option the recipe sets; label_smoothing 0 means off, so losses without smoothing accept it
        loss_options = {**lc.model_dump(exclude={"name"}), "label_smoothing": lc.label_smoothing or None}
        loss = config_error("loss", lambda: create_loss(lc.name, len(class_names), class_counts=list(class_counts),
                                                        **loss_options))  # fmt: skip
        outputs = num_outputs(loss, len(class_names))
        train_options, architecture = network_options(config.model, outputs)
        model = config_error("model", lambda: create_model(**train_options))
        mixing = isinstance(options, ClassifyOptions)  # tasks built on this one (SPBL) have options of their own
        mixer = BatchMixer(*(getattr(options, key) for key in TRAINING_OPTIONS)) if mixing else None
        module = ClassifyTask(model, loss, len(class_names), config.model.freeze_batchnorm, mixer)
        return Built(module, architecture)

    def spec_block(self, options: TaskOptions) -> dict[str, Any]:
        return options.model_dump(mode="json", exclude=set(TRAINING_OPTIONS))

    def decision(self, class_names: Sequence[str]) -> dict[str, Any]:
        if len(class_names) != 2:
            return {}
        return {"positive_class": class_names[1], "threshold": 0.5, "threshold_source": "default"}

    def postprocess(self, raw: Mapping[str, np.ndarray], spec: ModelSpec) -> dict[str, np.ndarray]:
        logits = raw["logits"]
        proba = class_probabilities(logits, spec.output, spec.decision.temperature).mean(axis=0)
        return {"proba": proba, "logits": logits[0]}

    def prediction(self, row: Mapping[str, np.ndarray], spec: ModelSpec) -> Prediction:
        proba = row["proba"]
        index = int(decide(proba[None], stored_threshold(spec))[0])
        names = spec.class_names
        return Prediction(names[index], index, {name: float(p) for name, p in zip(names, proba, strict=True)})

    def csv_header(self, spec: ModelSpec, labelled: bool) -> list[str]:
        return [*(["label"] if labelled else []), "predicted", *(f"p_{name}" for name in spec.class_names)]

    def csv_rows(
        self,
        spec: ModelSpec,
        outputs: Mapping[str, np.ndarray],
        readable: np.ndarray,
        targets: Mapping[str, np.ndarray] | None = None,
    ) -> list[list[Any]]:
        names, proba = spec.class_names, outputs["proba"]
        decided = np.full(len(readable), -1)
        if readable.any():
            decided[readable] = decide(proba[readable], stored_threshold(spec))
        labels = None if targets is None else targets["label"]
        rows = []
        for i, ok in enumerate(readable):
            label = [names[labels[i]]] if labels is not None else []
            cells = [names[decided[i]], *(f"{p:.6f}" for p in proba[i])] if ok else [""] * (1 + len(names))
            rows.append([*label, *cells])
        return rows

    def headline(self) -> list[str]:
        return list(CV_METRICS)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        from dermkit.reports.summary import format_summary

        return format_summary(dict(metrics))

    def evaluate(self, predictor: Any, table: ImageTable, **options: Any) -> Any:
        from dermkit.evaluation.classification import evaluate_classifier

        return evaluate_classifier(predictor, table, **options)
