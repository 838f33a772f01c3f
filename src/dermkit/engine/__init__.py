"""Engine: the Lightning adapter over any task, and ``train`` (imported lazily: Lightning is slow to import)."""

from __future__ import annotations

__all__ = ["TrainResult", "train"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from dermkit.engine import train as train_module

        return getattr(train_module, name)
    raise AttributeError(f"module 'dermkit.engine' has no attribute {name!r}")
