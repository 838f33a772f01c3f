"""Evaluation on labelled data: metrics, thresholds, calibration and the evaluate-to-folder pipeline."""

from dermkit.evaluation.evaluate import Evaluation, evaluate

__all__ = ["Evaluation", "evaluate"]
