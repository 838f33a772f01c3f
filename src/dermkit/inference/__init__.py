"""Inference: ``Predictor.from_checkpoint`` and evaluation on labelled data (no trainer needed)."""

from dermkit.inference.evaluate import Evaluation, evaluate
from dermkit.inference.predictor import Prediction, Predictor

__all__ = ["Evaluation", "Prediction", "Predictor", "evaluate"]
