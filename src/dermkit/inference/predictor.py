"""``Predictor``: a trained model and its preprocessing, loaded from the model folder alone.

Example:
    >>> predictor = Predictor.from_checkpoint("runs/demo")
    >>> result = predictor.predict("lesion.jpg")
    >>> result.label, result.probabilities
    ('malignant', {'benign': 0.08, 'malignant': 0.92})
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dermkit.data.dataset import ImageDataset, make_loader
from dermkit.data.decode import load_image
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import Record
from dermkit.inference.runtime import (
    TTA_MODES,
    BatchResult,
    ImageInput,
    RecordPredicting,
    check_tta,
    fill_unread,
    is_onnx,
    store_rows,
)
from dermkit.models.artifact import ModelSpec, load_model
from dermkit.tasks import Prediction, get_task
from dermkit.tasks.classify import decide, stored_threshold

__all__ = ["TTA_MODES", "BatchResult", "ImageInput", "Prediction", "Predictor", "tta_views"]


def tta_views(batch: torch.Tensor, mode: str | None) -> list[torch.Tensor]:
    """The test-time-augmentation views of a batch (N, 3, S, S).

    ``flips``: identity, horizontal, vertical and both flips (4 views). ``d4``: the 8 symmetries of the square
    (4 rotations, each also mirrored). Lesion images have no canonical orientation, so every view is as valid as
    the original.
    """
    mode = check_tta(mode)
    if mode is None:
        return [batch]
    if mode == "flips":
        return [batch, batch.flip(-1), batch.flip(-2), batch.flip(-1, -2)]
    rotations = [torch.rot90(batch, k, dims=(-2, -1)) for k in range(4)]
    return rotations + [view.flip(-1) for view in rotations]


class Predictor(RecordPredicting):
    """Runs a model on images with the preprocessing and decision rule stored in its ``model.json``.

    Args:
        model: the network (eval mode is set here).
        spec: its description (class names, preprocessing, output activation, threshold, temperature).
        device: where to run (``cpu``, ``cuda``...).
        tta: test-time augmentation: ``none``, ``flips`` (4 views) or ``d4`` (8 views); probabilities are averaged.
            None uses the model's ``decision.tta``, the mode its stored threshold was chosen with.
    """

    def __init__(
        self, model: torch.nn.Module, spec: ModelSpec, device: str | torch.device = "cpu", tta: str | None = None
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.spec = spec
        self.task = get_task(spec.task)
        self.preprocess = Preprocess.from_dict(spec.preprocessing)
        tta = spec.decision.tta if tta is None else tta
        tta_views(torch.zeros(1, 3, 2, 2), tta)  # validate the mode now, not at the first batch
        self.tta = None if tta == "none" else tta

    def with_decision(self, **changes: Any) -> Predictor:
        """A new predictor over the same network whose decision rule has ``changes`` (threshold, temperature...);
        this one is left as it was."""
        decision = self.spec.decision.model_copy(update=changes)
        spec = self.spec.model_copy(update={"decision": decision})
        return type(self)(self.model, spec, self.device, self.tta or "none")

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", tta: str | None = None) -> Any:
        """Load from a run folder, or the ``model.json`` in it; an exported ``.onnx`` file gives an
        :class:`~dermkit.inference.onnx_predictor.OnnxPredictor` (same interface, runs on onnxruntime)."""
        if is_onnx(path):
            from dermkit.inference.onnx_predictor import OnnxPredictor

            return OnnxPredictor.from_file(path, tta=tta)
        model, spec = load_model(path)
        return cls(model, spec, device, tta)

    @property
    def class_names(self) -> list[str]:
        return list(self.spec.class_names)

    @property
    def threshold(self) -> float | None:
        """The binary decision threshold on the positive class (class index 1), or None for argmax."""
        return self.spec.decision.threshold if len(self.spec.class_names) == 2 else None

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """The task's outputs for preprocessed images (N, 3, S, S): the network's raw outputs of every test-time view
        (V, N, ...) handed to the task's numpy post-processing."""
        inputs = torch.as_tensor(batch, dtype=torch.float32, device=self.device)
        views = tta_views(inputs, self.tta)
        out = self.model(torch.cat(views)) if len(views) > 1 else self.model(inputs)
        out = out if isinstance(out, tuple) else (out,)
        raw = {
            name: tensor.float().cpu().numpy().astype(np.float64).reshape(len(views), len(inputs), -1)
            for name, tensor in zip(self.spec.outputs, out, strict=True)
        }
        return self.task.postprocess(raw, self.spec)

    def predict_proba_tensor(self, batch: torch.Tensor | np.ndarray) -> np.ndarray:
        """Probabilities (N, C) for preprocessed images (N, 3, S, S): temperature and test-time augmentation applied."""
        return self._forward(batch)["proba"]

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices (N,) from probabilities: the stored threshold for two classes, else argmax."""
        return decide(proba, stored_threshold(self.spec))

    def predict(self, image: ImageInput) -> Any:
        """Predict one image given as a path, encoded bytes, a PIL image or an RGB/grey numpy array.

        A JPEG path or bytes is decoded at reduced scale when the model's input is far smaller (as in training and
        ``evaluate``); an image that is already decoded (PIL, numpy) is resized from full resolution, so its
        probabilities can differ from the file's in the third decimal.

        Raises:
            ImageLoadError: the image cannot be decoded (one line naming it and the problem).
        """
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[ImageInput], batch_size: int = 32) -> list[Any]:
        """Predict many in-memory images or paths, in order (raises on the first unreadable one)."""
        results: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            chunk = [
                self.preprocess(load_image(image, min_size=self.preprocess.resize))
                for image in images[start : start + batch_size]
            ]
            outputs = self._forward(np.stack(chunk))
            results.extend(self.task.prediction({k: v[i] for k, v in outputs.items()}, self.spec)
                           for i in range(len(chunk)))  # fmt: skip
        return results

    def iter_records(
        self, records: Sequence[Record], *, batch_size: int = 32, num_workers: int = 0
    ) -> Iterator[tuple[int, BatchResult]]:
        """Predict files batch by batch, in record order, holding one batch at a time (for archives of any size).

        Yields:
            ``(start, chunk)``: ``chunk`` holds the outputs and errors of ``records[start : start + len(chunk.errors)]``
            (NaN rows for unreadable files); consecutive chunks follow each other.
        """
        loader = make_loader(ImageDataset(records, self.preprocess), batch_size, num_workers=num_workers)
        start = 0
        for batch in loader:
            rows = batch["index"].numpy() - start if "image" in batch else np.zeros(0, dtype=np.int64)
            size = len(rows) + len(batch["skipped_index"])
            outputs: dict[str, np.ndarray] = {}
            errors: list[str | None] = [None] * size
            for index, message in zip(batch["skipped_index"], batch["skipped"], strict=True):
                errors[index - start] = message
            if "image" in batch:
                store_rows(outputs, rows, self._forward(batch["image"]), size)
            yield start, BatchResult(fill_unread(outputs, size, len(self.class_names)), errors)
            start += size
