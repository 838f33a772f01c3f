"""Engine: the Lightning adapter over any task, and ``train``."""

from dermkit.engine.train import TrainResult, train

__all__ = ["TrainResult", "train"]
