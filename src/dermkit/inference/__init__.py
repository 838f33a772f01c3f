"""Inference: predictors that run a model folder or an ONNX file on images (no trainer, no labels needed).

The names below load lazily, so the ONNX Runtime predictor (:mod:`dermkit.inference.onnx_predictor`) imports without
torch: a deployment needs onnxruntime, numpy, Pillow and OpenCV alone.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Prediction": "dermkit.inference.predictor",
    "Predictor": "dermkit.inference.predictor",
    "OnnxPredictor": "dermkit.inference.onnx_predictor",
    "load_predictor": "dermkit.inference.results",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dermkit.inference' has no attribute {name!r}")


__all__ = ["OnnxPredictor", "Prediction", "Predictor", "load_predictor"]
