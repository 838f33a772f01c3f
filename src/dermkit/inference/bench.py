"""CPU speed of a model in eager PyTorch and in ONNX Runtime (fp32 and int8), measured side by side in one run.

Each runtime runs the bare network on the same random input (preprocessing and post-processing are the same numpy
code for all, so they are left out). Runs are interleaved (eager, fp32, int8, eager, ...) so a machine that slows
down during the run slows every runtime alike; warm-up runs come first and are not timed. Latency is per call at
batch 1 (median and 90th percentile); throughput is images per second at batch ``batch``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermkit.inference.onnx_predictor import EXPORT_KEY, OnnxPredictor, open_session
from dermkit.inference.runtime import is_onnx

Runner = Callable[[np.ndarray], Any]


@dataclass
class BenchRow:
    """One model in one runtime.

    Attributes:
        model: the model's path as given; ``runtime`` e.g. ``pytorch eager``, ``onnxruntime fp32``.
        parameters: the network's parameter count.
        size: bytes of the file this runtime loads (``model.safetensors`` for eager).
        latency_ms: median and 90th percentile of one batch-1 call, in milliseconds.
        throughput: images per second at batch ``batch``.
    """

    model: str
    runtime: str
    parameters: int
    size: int
    latency_ms: tuple[float, float]
    throughput: float
    batch: int


def time_runners(
    runners: dict[str, Runner], image_size: int, *, iterations: int = 20, batch: int = 32, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """Time each runner on the same inputs, interleaved: ``iterations`` calls at batch 1, then
    ``max(1, iterations // 10)`` calls at batch ``batch``.

    Returns:
        Per runner: (median latency ms, p90 latency ms, images per second at batch ``batch``).
    """
    rng = np.random.default_rng(seed)
    one = rng.standard_normal((1, 3, image_size, image_size)).astype(np.float32)
    many = rng.standard_normal((batch, 3, image_size, image_size)).astype(np.float32)
    for run in runners.values():  # warm-up: allocators, onnxruntime's first-run planning, torch's kernels
        run(one), run(one), run(many)
    latency: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(iterations):
        for name, run in runners.items():
            start = time.perf_counter()
            run(one)
            latency[name].append(time.perf_counter() - start)
    rounds, spent = max(1, iterations // 10), dict.fromkeys(runners, 0.0)
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(many)
            spent[name] += time.perf_counter() - start
    return {
        name: (1000 * float(np.median(times)), 1000 * float(np.percentile(times, 90)), batch * rounds / spent[name])
        for name, times in latency.items()
    }


def onnx_parameters(path: str | Path) -> int:
    """Number of values in an ONNX file's initialisers (its weights; batch norm folded into convolutions)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return sum(int(np.prod(init.dims)) for init in proto.graph.initializer)


def bench_model(
    path: str | Path,
    *,
    iterations: int = 20,
    batch: int = 32,
    int8: str = "static",
    calibration: str | Path | None = None,
    threads: int | None = None,
) -> list[BenchRow]:
    """Benchmark one model: a model folder runs in eager PyTorch and, exported on the fly, in ONNX Runtime fp32 and
    int8; an ``.onnx`` file runs as it is (and its int8 copy, unless it is int8 already).

    Args:
        path: a run folder (or its ``model.json``) or an exported ``.onnx`` file.
        iterations: timed batch-1 calls per runtime (a tenth as many at batch ``batch``).
        batch: the throughput batch size.
        int8: ``static`` (QDQ; calibrated on ``calibration`` images, else on random inputs, which leaves the speed
            representative but not the accuracy) or ``dynamic`` quantisation.
        calibration: images for static quantisation.
        threads: intra-op threads of every runtime (None: each runtime's default, one per core). On a machine busy
            with other work, 1 gives steadier numbers: PyTorch's OpenMP threads slow down badly when cores are
            oversubscribed.
    """
    from dermkit.errors import ConfigError, ExportError
    from dermkit.inference.onnx_export import export_onnx
    from dermkit.inference.quantize import quantize_onnx

    if int8 not in ("static", "dynamic"):
        raise ConfigError(f"unknown int8 mode '{int8}'; choose one of: static, dynamic")
    try:  # the runtime-only install (no torch, no onnx) predicts but neither exports nor quantises
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"bench needs the full dermkit install (it exports and quantises): {exc}") from None
    runners: dict[str, Runner] = {}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="dermkit-bench-") as tmp:
        if is_onnx(path):
            fp32, parameters = Path(path), onnx_parameters(path)
            quantized = (json.loads(open_session(fp32)[2].get(EXPORT_KEY, "{}")) or {}).get("quantization")
        else:
            parameters, fp32, quantized = _eager(path, runners, sizes, threads), Path(tmp) / "model.onnx", None
            export_onnx(path, fp32)
        label = f"onnxruntime int8 ({quantized['mode']})" if quantized else "onnxruntime fp32"
        predictor = OnnxPredictor.from_file(fp32, tta="none", threads=threads)
        runners[label], sizes[label] = predictor.run, fp32.stat().st_size
        if not quantized:
            report = quantize_onnx(
                fp32,
                Path(tmp) / "model.int8.onnx",
                calibration=calibration,
                random_calibration=16 if int8 == "static" and calibration is None else 0,
            )
            runners[f"onnxruntime int8 ({report.mode})"] = OnnxPredictor.from_file(
                report.path, tta="none", threads=threads
            ).run
            sizes[f"onnxruntime int8 ({report.mode})"] = report.size
        times = time_runners(runners, predictor.preprocess.image_size, iterations=iterations, batch=batch)
    return [
        BenchRow(str(path), name, parameters, sizes[name], times[name][:2], times[name][2], batch) for name in runners
    ]


def _eager(path: str | Path, runners: dict[str, Runner], sizes: dict[str, int], threads: int | None) -> int:
    """Add the eager PyTorch runner of a model folder (on ``threads`` intra-op threads); return its parameter
    count."""
    import torch

    from dermkit.models.artifact import load_model
    from dermkit.models.spec import WEIGHTS_FILE, resolve_model_dir

    model, _ = load_model(path)

    def run(batch: np.ndarray) -> Any:
        default = torch.get_num_threads()
        torch.set_num_threads(threads or default)
        try:
            with torch.inference_mode():
                return model(torch.from_numpy(batch))
        finally:
            torch.set_num_threads(default)

    runners["pytorch eager"] = run
    sizes["pytorch eager"] = (resolve_model_dir(path) / WEIGHTS_FILE).stat().st_size
    return sum(parameter.numel() for parameter in model.parameters())


def bench_models(paths: Sequence[str | Path], **options: Any) -> list[BenchRow]:
    """:func:`bench_model` for each path, rows in order."""
    return [row for path in paths for row in bench_model(path, **options)]


def format_bench(rows: Sequence[BenchRow]) -> str:
    """The rows as an aligned text table (one line per model and runtime)."""
    batch = rows[0].batch if rows else 32
    header = ["model", "runtime", "params", "size MB", "b1 median ms", "b1 p90 ms", f"b{batch} img/s"]
    cells = [
        [
            row.model,
            row.runtime,
            f"{row.parameters / 1e6:.2f}M",
            f"{row.size / 1e6:.2f}",
            f"{row.latency_ms[0]:.2f}",
            f"{row.latency_ms[1]:.2f}",
            f"{row.throughput:.1f}",
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *cells]
    ]
    return "\n".join(lines)
