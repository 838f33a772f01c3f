"""Export a model folder to one self-describing ONNX file, and check that ONNX Runtime reproduces PyTorch.

The file holds the network (dynamic batch axis, one named output per entry of the task's ``outputs``) and, in its
metadata under ``dermkit_model_json``, the whole ``model.json`` (task and its options, classes, preprocessing,
decision rule, temperature): :class:`dermkit.inference.onnx_predictor.OnnxPredictor` needs nothing else. Temperature
and test-time augmentation stay outside the graph, in the task's numpy post-processing, exactly as in PyTorch.

Before anything is written, ONNX Runtime runs the exported bytes on sample inputs (batches of 1 and 3) and the task's
probabilities are compared with PyTorch's; above the tolerance nothing is written. The write itself is atomic.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.errors import ExportError
from dermkit.fileio import write_bytes
from dermkit.inference.onnx_predictor import EXPORT_KEY, MODEL_JSON_KEY
from dermkit.inference.runtime import is_onnx
from dermkit.models.spec import ModelSpec

INPUT_NAME = "image"
VERIFY_BATCHES = (1, 1, 3)
"""Batch sizes of the verification runs: batch 1 twice, then 3 (checks the dynamic batch axis)."""
TOLERANCE = 1e-4
RAW_TOLERANCE = 1e-3
"""Largest relative difference of the raw outputs (scaled by max(1, |output|)): random inputs can saturate a
trained model's probabilities at 0 or 1, where a wrong graph would still agree on them."""


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime matched PyTorch.

    Attributes:
        path: the ``.onnx`` file.
        opset: the ONNX opset it targets.
        outputs: the network's output names.
        max_abs_diff: the largest ``|p_onnx - p_torch|`` over the verification images and classes.
        raw_diff: the largest difference of the raw outputs, relative to ``max(1, |output|)``.
        verified_on: what the comparison ran on (``5 random inputs`` or ``5 images``), in batches of ``batches``.
        batches: the batch sizes run.
        size: the file's size in bytes.
    """

    path: Path
    opset: int
    outputs: list[str]
    max_abs_diff: float
    raw_diff: float
    verified_on: str
    batches: tuple[int, ...]
    size: int


def export_onnx(
    model_dir: str | Path,
    out: str | Path,
    *,
    opset: int = 17,
    verify_images: Sequence[str | Path] | None = None,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Export a model folder to ``out`` (an ``.onnx`` file) after verifying it with ONNX Runtime.

    Args:
        model_dir: a run folder (or its ``model.json``).
        out: the ONNX file to write (must end in ``.onnx``: predict and evaluate recognise the file by it).
        opset: the ONNX opset (17 by default).
        verify_images: image files to verify on (decoded and preprocessed as in prediction); None: random inputs.
        tolerance: the largest accepted absolute difference between ONNX Runtime's and PyTorch's probabilities.

    Returns:
        The export report (the difference is printed by ``dermkit export``).

    Raises:
        ExportError: an operator ONNX cannot export (named), or a verification above ``tolerance``; nothing is
            written then.
    """
    out = Path(out)
    if is_onnx(model_dir):
        raise ExportError(f"{model_dir}: already an ONNX model; export takes a model folder (run folder or model.json)")
    if not is_onnx(out):
        raise ExportError(f"{out}: the output must end in .onnx (predict and evaluate recognise the file by it)")
    try:
        from dermkit.models.artifact import load_model
    except ImportError as exc:  # the runtime-only install (dermkit[runtime] without torch) predicts but cannot export
        raise ExportError(f"export needs PyTorch and timm, which this install lacks ({exc}); install dermkit") from None
    model, spec = load_model(model_dir)
    data = onnx_bytes(model, spec, opset, where=str(model_dir))
    batches = verification_inputs(spec, verify_images)
    diff, raw = verify_onnx(model, spec, data, batches)
    source = f"{sum(map(len, batches))} {'images' if verify_images else 'random inputs'}"
    if not (diff <= tolerance and raw <= RAW_TOLERANCE):  # NaN fails too
        raise ExportError(
            f"{model_dir}: ONNX Runtime and PyTorch disagree on {source}: max |p_onnx - p_torch| = {diff:.3g} "
            f"(tolerance {tolerance:g}), raw outputs {raw:.3g} apart (tolerance {RAW_TOLERANCE:g}); {out} not written"
        )
    data = with_metadata(data, spec, {"opset": opset, "quantization": None, "max_abs_diff": diff, "raw_diff": raw})
    write_bytes(out, data)
    batch_sizes = tuple(len(b) for b in batches)
    return ExportReport(out, opset, list(spec.outputs), diff, raw, source, batch_sizes, len(data))


def onnx_bytes(model: Any, spec: ModelSpec, opset: int = 17, where: str = "model") -> bytes:
    """The network as ONNX bytes (TorchScript exporter, dynamic batch axis, outputs named ``spec.outputs``).

    Raises:
        ExportError: one line naming the operator ONNX cannot export (or the exporter's first line).
    """
    import io

    import torch

    size = int(spec.preprocessing.get("image_size", 224))
    names = list(spec.outputs)
    axes = {name: {0: "batch"} for name in [INPUT_NAME, *names]}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation notice and tracer warnings
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model.eval(),
                (torch.zeros(1, 3, size, size),),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        except torch.onnx.errors.OnnxExporterError as exc:
            raise ExportError(f"{where}: cannot export to ONNX opset {opset}: {_exporter_reason(exc)}") from None
        except ValueError as exc:  # an opset the exporter does not know
            raise ExportError(f"{where}: cannot export to ONNX opset {opset}: {str(exc).splitlines()[0]}") from None
    return buffer.getvalue()


def _exporter_reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"operator '([^']+)'", text)
    if match:
        return f"operator '{match.group(1)}' is not supported (pick another opset with --opset, or another model)"
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


def with_metadata(data: bytes, spec: ModelSpec, export: dict[str, Any]) -> bytes:
    """``data`` with the model's description (``dermkit_model_json``) and the export's (``dermkit_export``) set as
    the ONNX model's metadata (other metadata entries are kept)."""
    import onnx

    proto = onnx.load_from_string(data)
    props = {entry.key: entry.value for entry in proto.metadata_props}
    props[MODEL_JSON_KEY] = json.dumps(spec.model_dump(mode="json"))
    props[EXPORT_KEY] = json.dumps(export)
    onnx.helper.set_model_props(proto, props)
    return proto.SerializeToString()


def verification_inputs(spec: ModelSpec, images: Sequence[str | Path] | None = None, seed: int = 0) -> list:
    """Network inputs for :data:`VERIFY_BATCHES`: the given images (decoded and preprocessed as in prediction,
    reused in turn when fewer are given), else standard-normal tensors (what normalised images look like).

    Returns:
        float32 arrays of shape (b, 3, S, S), one per batch size.
    """
    from dermkit.data.decode import load_image
    from dermkit.data.preprocess import Preprocess

    preprocess = Preprocess.from_dict(spec.preprocessing)
    total = sum(VERIFY_BATCHES)
    if images:
        decoded = [preprocess(load_image(path, min_size=preprocess.resize)) for path in list(images)[:total]]
        pool = np.stack([decoded[i % len(decoded)] for i in range(total)])
    else:
        size = preprocess.image_size
        pool = np.random.default_rng(seed).standard_normal((total, 3, size, size)).astype(np.float32)
    starts = np.cumsum([0, *VERIFY_BATCHES])
    return [pool[a:b] for a, b in itertools.pairwise(starts)]


def verify_onnx(model: Any, spec: ModelSpec, data: bytes, batches: Sequence[np.ndarray]) -> tuple[float, float]:
    """Compare ONNX Runtime (running ``data``) with PyTorch (running ``model``) over ``batches``.

    Returns:
        The largest absolute difference of the task's probabilities, and the largest difference of the raw outputs
        relative to ``max(1, |output|)``; NaN when an output is not finite.
    """
    import onnxruntime as ort
    import torch

    from dermkit.tasks import get_task

    task = get_task(spec.task)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst, raw = 0.0, 0.0
    for batch in batches:
        with torch.inference_mode():
            out = model.eval()(torch.from_numpy(batch))
        out = out if isinstance(out, tuple) else (out,)
        reference = {
            name: t.double().numpy().reshape(1, len(batch), -1) for name, t in zip(spec.outputs, out, strict=True)
        }
        got = session.run(list(spec.outputs), {INPUT_NAME: batch})
        exported = {
            name: a.astype(np.float64).reshape(1, len(batch), -1) for name, a in zip(spec.outputs, got, strict=True)
        }
        p_ref, p_onnx = task.postprocess(reference, spec)["proba"], task.postprocess(exported, spec)["proba"]
        if not all(np.isfinite(a).all() for a in [p_ref, p_onnx, *reference.values(), *exported.values()]):
            return float("nan"), float("nan")
        worst = max(worst, float(np.abs(p_onnx - p_ref).max()))
        for name, expected in reference.items():
            raw = max(raw, float(np.abs(exported[name] - expected).max() / max(1.0, np.abs(expected).max())))
    return worst, raw
