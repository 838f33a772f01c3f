"""Matching a dataset's labels to a model's classes by name (``--class-map`` renames data classes first)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dermkit.data.records import ImageTable
from dermkit.errors import ConfigError, DataError


def parse_class_map(text: str | None) -> dict[str, str]:
    """``"melanoma=malignant,nevus=benign"`` -> ``{"melanoma": "malignant", "nevus": "benign"}``."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ConfigError(f"--class-map entry '{item}' is not of the form data_class=model_class")
        mapping[source.strip()] = target.strip()
    return mapping


def align_labels(
    table: ImageTable, class_names: Sequence[str], class_map: Mapping[str, str] | None = None
) -> np.ndarray:
    """Labels of ``table`` as indices into ``class_names`` (the model's), matching classes by (mapped) name."""
    class_map = dict(class_map or {})
    unused = sorted(set(class_map) - set(table.class_names))
    if unused:
        raise DataError(f"--class-map names '{unused[0]}', which is not a data class ({', '.join(table.class_names)})")
    index = {name: position for position, name in enumerate(class_names)}
    mapped = [class_map.get(name, name) for name in table.class_names]
    unknown = [name for name in mapped if name not in index]
    if unknown and all(name.isdigit() for name in table.class_names) and len(table.class_names) <= len(class_names):
        raise DataError(
            f"{table.source}: labels are class indices ({', '.join(table.class_names)}) but the model's classes have "
            f"names; read them in the model's order with data.class_names=[{','.join(class_names)}]"
        )
    if unknown:
        raise DataError(
            f"{table.source}: class '{unknown[0]}' is not one the model knows; data classes: "
            f"{', '.join(table.class_names)}; model classes: {', '.join(class_names)} (map them with --class-map "
            "data_class=model_class)"
        )
    mapping = np.array([index[name] for name in mapped], dtype=np.int64)
    return mapping[np.asarray(table.labels(), dtype=np.int64)]
