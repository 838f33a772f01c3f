"""dermkit: from a folder of skin images to a trained, evaluated, explained and deployable classifier.

Example:
    >>> from dermkit import Predictor
    >>> Predictor.from_checkpoint("runs/demo/model").predict("lesion.jpg").label
"""

from __future__ import annotations

import os

# albumentations asks PyPI for a newer version on import; dermkit never touches the network on its own.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

_LAZY = {
    "Predictor": "dermkit.inference.predictor",
    "Prediction": "dermkit.inference.predictor",
    "create_model": "dermkit.models.factory",
    "create_loss": "dermkit.losses.classification",
    "read_dataset": "dermkit.data.formats",
    "train": "dermkit.engine.train",
    "load_config": "dermkit.config",
}


def __getattr__(name: str) -> object:
    """Import the public API lazily, so ``import dermkit`` (and the CLI's start-up) stays fast."""
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, "load" if name == "load_config" else name)
    raise AttributeError(f"module 'dermkit' has no attribute {name!r}")


__all__ = [
    "Prediction",
    "Predictor",
    "__version__",
    "create_loss",
    "create_model",
    "load_config",
    "read_dataset",
    "train",
]
