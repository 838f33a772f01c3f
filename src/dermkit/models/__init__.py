"""Models: timm backbones by name, dermkit heads, and ``create_model``.

The names below load lazily, so ``dermkit.models.spec`` (``model.json``, pydantic only) imports without torch or timm.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "HEADS": "dermkit.models.heads",
    "Classifier": "dermkit.models.factory",
    "create_backbone": "dermkit.models.backbones",
    "create_head": "dermkit.models.heads",
    "create_model": "dermkit.models.factory",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dermkit.models' has no attribute {name!r}")


__all__ = ["HEADS", "Classifier", "create_backbone", "create_head", "create_model"]
