"""Inference: predictors that run a model folder on images (no trainer, no labels needed)."""

from dermkit.inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
