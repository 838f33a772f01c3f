"""Compare two files of the same model on labelled data: what quantisation (or another runtime) costs in accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dermkit.evaluation.evaluate import evaluate, select_split
from dermkit.evaluation.pipeline import read_model_data
from dermkit.inference.runtime import load_predictor
from dermkit.progress import Reporter, silent


@dataclass
class AccuracyChange:
    """Accuracy of a reference model and of a candidate (e.g. its int8 copy) on the same images.

    Attributes:
        description: which images (``the test split (25 images)``).
        reference: the reference's accuracy (fraction correct); ``candidate`` the candidate's.
        images: the readable images both were scored on.
    """

    description: str
    reference: float
    candidate: float
    images: int

    @property
    def change(self) -> float:
        """``candidate - reference`` (negative: the candidate is less accurate)."""
        return self.candidate - self.reference


def accuracy_change(
    reference: str | Path,
    candidate: str | Path,
    data: str | Path,
    *,
    data_options: Sequence[str] = (),
    split: str = "auto",
    batch_size: int = 32,
    num_workers: int = 2,
    progress: Reporter = silent,
) -> AccuracyChange:
    """Evaluate both models (folders or ``.onnx`` files) with :func:`dermkit.evaluation.evaluate` on ``data``.

    Args:
        reference: the model to compare against (an fp32 export, or the model folder).
        candidate: the other model (an int8 export).
        data: labelled data in any supported layout; ``split`` as in ``dermkit evaluate`` (auto: test, else val,
            else all); ``data_options`` are ``data.KEY=VALUE`` reader options.
        batch_size: images per forward pass; ``num_workers`` decoding workers; ``progress`` shows the two passes.
    """
    scores, images, description = [], 0, ""
    for path in (reference, candidate):
        predictor = load_predictor(path)
        table, description = select_split(read_model_data(predictor.spec, data, data_options), split)
        metrics = evaluate(predictor, table, batch_size=batch_size, num_workers=num_workers, progress=progress).metrics
        scores.append(float(metrics["accuracy"]))
        images = len(table) - int(metrics.get("unreadable", 0))
    return AccuracyChange(description, scores[0], scores[1], images)
