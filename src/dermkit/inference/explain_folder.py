"""``dermkit explain``'s files: per image, the heat-map overlay (PNG) and the raw map (``.npy``), written atomically."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dermkit.errors import ImageLoadError
from dermkit.fileio import write_bytes
from dermkit.inference.explain import Explainer, encode_png


@dataclass
class ExplainSummary:
    """What :func:`explain_to_folder` wrote: per explained image its two files, and one line per unreadable image."""

    out: Path
    written: list[tuple[Path, Path]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _unique_stem(path: Path, used: set[str]) -> str:
    stem, number = path.stem, 1
    while stem in used:  # two inputs called lesion.jpg in different folders
        number += 1
        stem = f"{path.stem}_{number}"
    used.add(stem)
    return stem


def explain_to_folder(
    explainer: Explainer,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    class_name: str | None = None,
    method: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ExplainSummary:
    """Explain each image into ``out``: ``<stem>_<method>.png`` (overlay) and ``<stem>_<method>.npy`` (the map).

    Both are in the original image's geometry; the ``.npy`` holds the float32 (H, W) map in [0, 1]. An unreadable
    image is reported (one line) and the others are still explained.

    Args:
        explainer: the model to explain.
        images: image files.
        out: the output folder (created).
        class_name: the class to explain; None explains each image's predicted class.
        method: ``gradcam`` or ``gradcam++`` (default: the explainer's).
        log: called with one line per image.

    Returns:
        What was written and what could not be read.

    Raises:
        ConfigError: an unknown class or method (before any image is read).
    """
    explainer.class_index(class_name)  # a typo in --class fails before the first image
    method = method or explainer.method
    summary = ExplainSummary(Path(out))
    used: set[str] = set()
    for image in images:
        path = Path(image)
        try:
            result = explainer.explain(path, class_name=class_name, method=method)
        except ImageLoadError as exc:
            summary.errors.append(str(exc))
            if log:
                log(f"unreadable: {exc}")
            continue
        stem = f"{_unique_stem(path, used)}_{method.replace('+', 'p')}"
        buffer = io.BytesIO()
        np.save(buffer, result.heatmap)
        overlay = write_bytes(summary.out / f"{stem}.png", encode_png(result.overlay))
        pair = (overlay, write_bytes(summary.out / f"{stem}.npy", buffer.getvalue()))
        summary.written.append(pair)
        if log:
            label = result.prediction.label
            log(f"{path}: predicted {label}, map of {result.class_name} ({result.layer}) -> {pair[0].name}")
    return summary
