"""int8 quantisation of an exported model with onnxruntime's quantiser: a second, smaller ``.onnx`` file.

Without calibration images the weights are quantised dynamically (activations are quantised at run time, per
batch): no data needed, but onnxruntime runs such convolutions as ``ConvInteger``, which on many CPUs is slower than
fp32. With a folder of calibration images (preprocessed as in prediction) the quantisation is static (QDQ format,
per-channel int8 weights, uint8 activations whose ranges are measured on those images): smaller and faster. See B.
Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR
2018, for the affine int8 scheme both use.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dermkit.errors import DataError, ExportError
from dermkit.fileio import write_bytes
from dermkit.inference.onnx_predictor import EXPORT_KEY, OnnxPredictor, open_session
from dermkit.inference.runtime import is_onnx
from dermkit.models.spec import ModelSpec

MAX_CALIBRATION_IMAGES = 64
"""Static quantisation measures activation ranges on at most this many images (min/max settles quickly)."""


@dataclass
class QuantizeReport:
    """What :func:`quantize_onnx` wrote.

    Attributes:
        path: the int8 file.
        mode: ``dynamic`` or ``static``.
        size: its size in bytes; ``source_size`` the fp32 file's.
        calibration_images: images the static ranges were measured on (0 for dynamic).
        max_abs_diff: the largest ``|p_int8 - p_fp32|`` on sample inputs (quantisation error, not a failure).
    """

    path: Path
    mode: str
    size: int
    source_size: int
    calibration_images: int
    max_abs_diff: float


def int8_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` (beside it)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.int8.onnx")


def quantize_onnx(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    calibration: str | Path | None = None,
    random_calibration: int = 0,
    max_images: int = MAX_CALIBRATION_IMAGES,
) -> QuantizeReport:
    """Write an int8 copy of the exported model ``src`` (its dermkit metadata kept).

    Args:
        src: an ``.onnx`` file written by :func:`dermkit.inference.onnx_export.export_onnx`.
        dst: the int8 file (default :func:`int8_path` of ``src``).
        calibration: a folder (or CSV manifest) of images for static quantisation; None: dynamic.
        random_calibration: instead of images, calibrate static quantisation on this many standard-normal inputs
            (benchmarks only: the ranges mean nothing, the speed is representative).
        max_images: at most this many calibration images are used.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _, spec, metadata = open_session(src)
    dst = Path(dst) if dst is not None else int8_path(src)
    if not is_onnx(dst):
        raise ExportError(f"{dst}: the int8 output must end in .onnx")
    inputs = _calibration_inputs(spec, calibration, random_calibration, max_images)
    mode = "dynamic" if inputs is None else "static"
    with tempfile.TemporaryDirectory(prefix="dermkit-quantize-") as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        # shape inference and graph optimisation first, as onnxruntime recommends; it also turns the exporter's
        # Identity-shared weights (identical initialisers) back into initialisers the quantiser can read
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        if inputs is None:
            quantize_dynamic(str(prepared), str(quantized), weight_type=QuantType.QInt8)
        else:
            quantize_static(
                str(prepared),
                str(quantized),
                _Reader(inputs),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        data = _carry_metadata(quantized.read_bytes(), metadata, mode, len(inputs) if inputs is not None else 0)
    write_bytes(dst, data)
    diff = _int8_difference(src, dst, inputs)
    return QuantizeReport(dst, mode, len(data), Path(src).stat().st_size, 0 if inputs is None else len(inputs), diff)


def _calibration_inputs(
    spec: ModelSpec, folder: str | Path | None, random_count: int, max_images: int
) -> list[np.ndarray] | None:
    from dermkit.data.decode import load_image
    from dermkit.data.inputs import collect_images
    from dermkit.data.preprocess import Preprocess
    from dermkit.errors import ImageLoadError

    preprocess = Preprocess.from_dict(spec.preprocessing)
    if folder is None:
        if not random_count:
            return None
        rng = np.random.default_rng(0)
        shape = (1, 3, preprocess.image_size, preprocess.image_size)
        return [rng.standard_normal(shape).astype(np.float32) for _ in range(random_count)]
    records = collect_images([folder])
    arrays = []
    for record in records[: max_images * 2]:  # room for some unreadable files
        try:
            arrays.append(preprocess(load_image(record.path, min_size=preprocess.resize))[None])
        except ImageLoadError:
            continue
        if len(arrays) == max_images:
            break
    if not arrays:
        raise DataError(f"{folder}: no readable calibration images (give a folder of images like the model's inputs)")
    return arrays


class _Reader:
    """onnxruntime's ``CalibrationDataReader`` protocol over preprocessed (1, 3, S, S) arrays."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self._items: Iterator[np.ndarray] = iter(arrays)

    def get_next(self) -> dict[str, np.ndarray] | None:
        from dermkit.inference.onnx_export import INPUT_NAME

        item = next(self._items, None)
        return None if item is None else {INPUT_NAME: item}


def _carry_metadata(data: bytes, metadata: dict[str, str], mode: str, images: int) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    export = json.loads(metadata.get(EXPORT_KEY, "{}"))
    export["quantization"] = {"type": "int8", "mode": mode, "calibration_images": images}
    onnx.helper.set_model_props(proto, {**metadata, EXPORT_KEY: json.dumps(export)})
    return proto.SerializeToString()


def _int8_difference(src: str | Path, dst: Path, inputs: list[np.ndarray] | None) -> float:
    """Largest ``|p_int8 - p_fp32|`` on up to 8 inputs (the calibration images, else random ones)."""
    fp32, int8 = OnnxPredictor.from_file(src, tta="none"), OnnxPredictor.from_file(dst, tta="none")
    if inputs:
        batch = np.concatenate(inputs[:8])
    else:
        size = fp32.preprocess.image_size
        batch = np.random.default_rng(1).standard_normal((4, 3, size, size)).astype(np.float32)
    return float(np.abs(int8.predict_proba_tensor(batch) - fp32.predict_proba_tensor(batch)).max())
