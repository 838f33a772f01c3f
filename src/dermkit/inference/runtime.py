"""What the PyTorch and the ONNX Runtime predictors share, without torch: the batch result, test-time-augmentation
views in numpy, and :func:`load_predictor`, which picks the predictor a model path needs.

Example:
    >>> predictor = load_predictor("model.onnx")      # onnxruntime + numpy only
    >>> predictor = load_predictor("runs/demo")       # the PyTorch predictor (model folder)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dermkit.errors import ConfigError

ImageInput = str | Path | bytes | Image.Image | np.ndarray
"""What ``predict`` accepts: a path, encoded bytes, a PIL image or an RGB/grey numpy array."""
TTA_MODES = ("none", "flips", "d4")
ONNX_SUFFIX = ".onnx"


def check_tta(mode: str | None) -> str | None:
    """The test-time augmentation mode (None for no augmentation); an unknown one is a one-line ConfigError."""
    if mode not in (None, *TTA_MODES):
        raise ConfigError(f"unknown test-time augmentation '{mode}'; choose one of: {', '.join(TTA_MODES)}")
    return None if mode in (None, "none") else mode


def numpy_views(batch: np.ndarray, mode: str | None) -> list[np.ndarray]:
    """The test-time-augmentation views of a batch, in the order of the PyTorch predictor's ``tta_views``.

    ``flips``: identity, horizontal, vertical and both flips (4 views). ``d4``: the 8 symmetries of the square (4
    rotations, each also mirrored).

    Shape:
        batch: (N, 3, S, S). Returns V arrays of the same shape (C-contiguous).
    """
    mode = check_tta(mode)
    if mode is None:
        return [batch]
    if mode == "flips":
        views = [batch, batch[..., ::-1], batch[..., ::-1, :], batch[..., ::-1, ::-1]]
    else:
        rotations = [np.rot90(batch, k, axes=(-2, -1)) for k in range(4)]
        views = rotations + [view[..., ::-1] for view in rotations]
    return [np.ascontiguousarray(view) for view in views]


@dataclass
class BatchResult:
    """Outputs for many images, in input order; rows of unreadable images are NaN.

    Attributes:
        outputs: the task's post-processed outputs (:meth:`dermkit.tasks.Task.postprocess`), N rows each; a
            classifying task has ``proba`` (N, C): its per-class probabilities (temperature and test-time
            augmentation applied).
        errors: per image, the one-line error or None.
    """

    outputs: dict[str, np.ndarray]
    errors: list[str | None]

    @property
    def proba(self) -> np.ndarray:
        """(N, C) class probabilities."""
        return self.outputs["proba"]

    @property
    def logits(self) -> np.ndarray:
        """(N, K) raw logits of the plain view (K = 1 for a sigmoid model), for calibration (classify)."""
        return self.outputs["logits"]

    @property
    def readable(self) -> np.ndarray:
        """Boolean mask of the images that were predicted."""
        return np.array([error is None for error in self.errors], dtype=bool)


def store_rows(outputs: dict[str, np.ndarray], rows: np.ndarray, values: Mapping[str, np.ndarray], n: int) -> None:
    """Write one batch's post-processed ``values`` into rows ``rows`` of the N-row ``outputs`` (NaN elsewhere)."""
    for key, value in values.items():
        if key not in outputs:
            outputs[key] = np.full((n, *value.shape[1:]), np.nan)
        outputs[key][rows] = value


def fill_unread(outputs: dict[str, np.ndarray], n: int, num_classes: int) -> dict[str, np.ndarray]:
    """``outputs``, or, when no image was readable, the class probabilities (N, C) all NaN."""
    return outputs if outputs else {"proba": np.full((n, num_classes), np.nan)}


class RecordPredicting:
    """What both predictors share on top of their own ``iter_records``: :meth:`predict_records`."""

    class_names: list[str]

    def iter_records(
        self, records: Sequence[Any], *, batch_size: int = 32, num_workers: int = 0
    ) -> Iterator[tuple[int, BatchResult]]:
        """Yield ``(start, chunk)`` per batch, in record order: the outputs and errors of ``records[start : start +
        len(chunk.errors)]`` (NaN rows for unreadable files), holding one batch at a time."""
        raise NotImplementedError

    def predict_records(
        self,
        records: Sequence[Any],
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> BatchResult:
        """Predict files (:class:`~dermkit.data.records.Record` s), decoding in parallel; unreadable files do not
        stop the others. ``progress(done, total)`` is called after each batch (see :mod:`dermkit.progress`).

        Returns:
            The task's outputs and per-image errors, in record order (NaN rows for unreadable files).
        """
        n = len(records)
        outputs: dict[str, np.ndarray] = {}
        errors: list[str | None] = [None] * n
        for start, chunk in self.iter_records(records, batch_size=batch_size, num_workers=num_workers):
            stop = start + len(chunk.errors)
            errors[start:stop] = chunk.errors
            if chunk.readable.any():
                store_rows(outputs, np.arange(start, stop), chunk.outputs, n)
            if progress is not None:
                progress(stop, n)
        return BatchResult(fill_unread(outputs, n, len(self.class_names)), errors)


def is_onnx(path: str | Path) -> bool:
    """Whether ``path`` names an ONNX model file (by its suffix)."""
    return Path(path).suffix.lower() == ONNX_SUFFIX


def load_predictor(path: str | Path, *, tta: str | None = None, device: str = "cpu") -> Any:
    """The predictor for a model: an :class:`~dermkit.inference.onnx_predictor.OnnxPredictor` for an ``.onnx``
    file (torch is not imported), else a :class:`~dermkit.inference.predictor.Predictor` for a model folder.

    Args:
        path: a run folder, its ``model.json``, or an exported ``.onnx`` file.
        tta: test-time augmentation (``none``, ``flips``, ``d4``); None uses the model's stored mode.
        device: where the PyTorch predictor runs (the ONNX one runs on onnxruntime's CPU provider).
    """
    if is_onnx(path):
        from dermkit.inference.onnx_predictor import OnnxPredictor

        return OnnxPredictor.from_file(path, tta=tta)
    from dermkit.inference.predictor import Predictor

    return Predictor.from_checkpoint(path, device=device, tta=tta)
