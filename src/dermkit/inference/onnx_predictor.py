"""``OnnxPredictor``: an exported ``.onnx`` model run by ONNX Runtime, with numpy, Pillow and OpenCV alone.

The file carries its ``model.json`` in its metadata (``dermkit_model_json``, written by :func:`dermkit.inference.
onnx_export.export_onnx`), so the predictor needs nothing else: images are decoded by
:func:`dermkit.data.decode.load_image`, prepared by :class:`dermkit.data.preprocess.Preprocess` and the network's raw
outputs go through the task's numpy ``postprocess``, exactly as in the PyTorch :class:`~dermkit.inference.Predictor`.
This module imports neither torch nor timm nor lightning (a test checks it in a subprocess where they cannot load).

Example:
    >>> predictor = OnnxPredictor.from_file("model.onnx")
    >>> predictor.predict("lesion.jpg").label
    'malignant'
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.data.decode import load_image
from dermkit.data.preprocess import Preprocess
from dermkit.data.records import Record
from dermkit.errors import ImageLoadError, ModelFileError
from dermkit.inference.runtime import (
    BatchResult,
    ImageInput,
    RecordPredicting,
    check_tta,
    fill_unread,
    numpy_views,
    store_rows,
)
from dermkit.models.spec import ModelSpec, parse_spec
from dermkit.tasks import get_task
from dermkit.tasks.classify import decide, stored_threshold

MODEL_JSON_KEY = "dermkit_model_json"
"""The ONNX metadata key holding the model's ``model.json`` content."""
EXPORT_KEY = "dermkit_export"
"""The ONNX metadata key describing the export itself (opset, quantisation, verified difference)."""


def open_session(path: str | Path, threads: int | None = None) -> tuple[Any, ModelSpec, dict[str, str]]:
    """Open an ONNX model with onnxruntime's CPU provider and read dermkit's description from its metadata.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (None: onnxruntime's default, one per core).

    Returns:
        The inference session, the model's spec, and the file's whole metadata map.

    Raises:
        ModelFileError: missing file, not ONNX, or an ONNX model dermkit did not export (one line naming it).
    """
    import onnxruntime as ort

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such ONNX model file")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no optimiser chatter on stderr
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors (InvalidProtobuf, Fail...) share no base class but Exception
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable ONNX model ({reason})") from None
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if MODEL_JSON_KEY not in metadata:
        raise ModelFileError(
            f"{path}: an ONNX model without dermkit's description (metadata '{MODEL_JSON_KEY}'); "
            "make one with `dermkit export MODEL --format onnx`"
        )
    where = f"{path} (metadata '{MODEL_JSON_KEY}')"
    try:
        data = json.loads(metadata[MODEL_JSON_KEY])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{where}: not valid JSON ({exc})") from None
    spec = parse_spec(data, where)
    names = {output.name for output in session.get_outputs()}
    missing = [name for name in spec.outputs if name not in names]
    if missing:
        raise ModelFileError(f"{path}: the network has no output '{missing[0]}' (outputs: {', '.join(sorted(names))})")
    return session, spec, metadata


class OnnxPredictor(RecordPredicting):
    """Runs an exported model on images with the preprocessing and decision rule stored in its metadata.

    The same public surface as :class:`dermkit.inference.Predictor` (``spec``, ``task``, ``class_names``,
    ``threshold``, ``tta``, ``predict``, ``predict_batch``, ``predict_records``, ``decide``), so ``evaluate``,
    ``predict`` and ``serve`` take either.

    Args:
        session: an ``onnxruntime.InferenceSession`` of a dermkit export.
        spec: the model's description.
        tta: test-time augmentation: ``none``, ``flips`` (4 views) or ``d4`` (8 views); None uses the model's stored
            ``decision.tta``.
        path: the file it was read from (shown by ``bench`` and in messages).
    """

    def __init__(self, session: Any, spec: ModelSpec, tta: str | None = None, path: Path | None = None) -> None:
        self.session = session
        self.spec = spec
        self.path = path
        self.task = get_task(spec.task)
        self.preprocess = Preprocess.from_dict(spec.preprocessing)
        self.input_name = session.get_inputs()[0].name
        self.tta = check_tta(spec.decision.tta if tta is None else tta)

    def with_decision(self, **changes: Any) -> OnnxPredictor:
        """A new predictor over the same session whose decision rule has ``changes``; this one is left as it was."""
        spec = self.spec.model_copy(update={"decision": self.spec.decision.model_copy(update=changes)})
        return type(self)(self.session, spec, self.tta or "none", self.path)

    @classmethod
    def from_file(cls, path: str | Path, tta: str | None = None, threads: int | None = None) -> OnnxPredictor:
        """Load an exported ``.onnx`` file (see :func:`open_session`)."""
        session, spec, _ = open_session(path, threads)
        return cls(session, spec, tta, Path(path))

    @property
    def class_names(self) -> list[str]:
        return list(self.spec.class_names)

    @property
    def threshold(self) -> float | None:
        """The binary decision threshold on the positive class (class index 1), or None for argmax."""
        return stored_threshold(self.spec)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """The network's raw outputs (in ``spec.outputs`` order) for preprocessed images (N, 3, S, S)."""
        inputs = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run(list(self.spec.outputs), {self.input_name: inputs})

    def _forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The task's outputs for preprocessed images: every test-time view's raw outputs (V, N, ...) handed to the
        task's numpy post-processing."""
        views = numpy_views(np.asarray(batch, dtype=np.float32), self.tta)
        out = self.run(np.concatenate(views) if len(views) > 1 else views[0])
        n = len(views[0])
        raw = {
            name: value.astype(np.float64).reshape(len(views), n, -1)
            for name, value in zip(self.spec.outputs, out, strict=True)
        }
        return self.task.postprocess(raw, self.spec)

    def predict_proba_tensor(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, C) for preprocessed images (N, 3, S, S): temperature and test-time augmentation applied."""
        return self._forward(batch)["proba"]

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class indices (N,) from probabilities: the stored threshold for two classes, else argmax."""
        return decide(proba, stored_threshold(self.spec))

    def predict(self, image: ImageInput) -> Any:
        """Predict one image given as a path, encoded bytes, a PIL image or an RGB/grey numpy array.

        Raises:
            ImageLoadError: the image cannot be decoded (one line naming it and the problem).
        """
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[ImageInput], batch_size: int = 32) -> list[Any]:
        """Predict many in-memory images or paths, in order (raises on the first unreadable one)."""
        results: list[Any] = []
        for start in range(0, len(images), batch_size):
            chunk = [
                self.preprocess(load_image(image, min_size=self.preprocess.resize))
                for image in images[start : start + batch_size]
            ]
            outputs = self._forward(np.stack(chunk))
            results.extend(
                self.task.prediction({k: v[i] for k, v in outputs.items()}, self.spec) for i in range(len(chunk))
            )
        return results

    def iter_records(
        self, records: Sequence[Record], *, batch_size: int = 32, num_workers: int = 0
    ) -> Iterator[tuple[int, BatchResult]]:
        """Predict files batch by batch, in record order, holding one batch at a time (as the PyTorch predictor's).

        Yields:
            ``(start, chunk)``: the outputs and errors of ``records[start : start + len(chunk.errors)]``.
        """
        for start, items in self._decoded_batches(records, batch_size, num_workers):
            rows = [i for i, item in enumerate(items) if not isinstance(item, str)]
            errors = [item if isinstance(item, str) else None for item in items]
            outputs: dict[str, np.ndarray] = {}
            if rows:
                store_rows(outputs, np.array(rows), self._forward(np.stack([items[r] for r in rows])), len(items))
            yield start, BatchResult(fill_unread(outputs, len(items), len(self.class_names)), errors)

    def _decode(self, record: Record) -> np.ndarray | str:
        """One record's network input (as in :class:`dermkit.data.dataset.ImageDataset`), or its one-line error."""
        try:
            return self.preprocess(load_image(record.path, min_size=self.preprocess.resize))
        except ImageLoadError as exc:
            return str(exc)

    def _decoded_batches(
        self, records: Sequence[Record], batch_size: int, num_workers: int
    ) -> Iterator[tuple[int, list[np.ndarray | str]]]:
        starts = range(0, len(records), batch_size)
        if num_workers <= 0:
            for start in starts:
                yield start, [self._decode(record) for record in records[start : start + batch_size]]
            return
        # Pillow and OpenCV release the GIL while decoding and resizing, so threads overlap; one batch is decoded
        # ahead so the network never waits, and memory holds at most two batches of images.
        with ThreadPoolExecutor(num_workers, thread_name_prefix="dermkit-decode") as pool:
            queue: deque = deque()
            for start in starts:
                queue.append((start, [pool.submit(self._decode, r) for r in records[start : start + batch_size]]))
                if len(queue) > 1:
                    first, futures = queue.popleft()
                    yield first, [future.result() for future in futures]
            while queue:
                first, futures = queue.popleft()
                yield first, [future.result() for future in futures]
