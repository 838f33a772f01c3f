"""The portable-model claim, measured: a ResNet-50 teacher vs a MobileNetV2 student, eager PyTorch vs ONNX Runtime.

The setting of Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin
lesion classification using dermoscopic images", Medical Image Analysis 84:102693, 2023: an 8-class ResNet-50 teacher
and the MobileNetV2 student meant for a phone, at 224 px. Speed does not depend on the weights, so both are random
(nothing is downloaded). Each model is saved as a dermkit model folder, exported to ONNX (verified against PyTorch),
quantised to int8 (static, calibrated on random inputs: representative speed, meaningless accuracy) and timed with
:func:`dermkit.inference.bench.bench_model`: all runtimes of a model interleaved in one run, after warm-up.

    python benchmarks/portable.py                   # 224 px, 10 batch-1 calls, 1 batch-32 call per runtime
    python benchmarks/portable.py --teacher test_resnet --student test_efficientnet --image-size 32 --iterations 2

Targets (issue 10): the ONNX student at batch 1 >= 2.5x the eager student's throughput; >= 10x smaller than the
teacher.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

from dermkit.data.preprocess import Preprocess
from dermkit.inference.bench import BenchRow, bench_model, format_bench
from dermkit.models import create_model
from dermkit.models.artifact import save_model
from dermkit.models.spec import Architecture, ModelSpec


def model_folder(out: Path, name: str, classes: int, size: int) -> Path:
    """A random-init model folder (``model.safetensors`` + ``model.json``) for timm model ``name``."""
    model = create_model(name, classes).eval()
    spec = ModelSpec(architecture=Architecture(name=name, num_outputs=classes),
                     class_names=[f"class{i}" for i in range(classes)],
                     preprocessing=Preprocess(size, size).to_dict())  # fmt: skip
    return save_model(out, model, spec)


def pick(rows: list[BenchRow], prefix: str) -> BenchRow:
    return next(row for row in rows if row.runtime.startswith(prefix))


def ratio_lines(teacher: list[BenchRow], student: list[BenchRow]) -> list[str]:
    """Size, latency and throughput ratios, and the two targets."""
    eager, fp32, int8 = pick(student, "pytorch"), pick(student, "onnxruntime fp32"), pick(student, "onnxruntime int8")
    t_eager = pick(teacher, "pytorch")
    speed_fp32 = eager.latency_ms[0] / fp32.latency_ms[0]  # batch-1 throughput ratio = inverse latency ratio
    smaller = t_eager.size / fp32.size
    lines = [
        f"student batch-1 throughput, ORT fp32 / eager:   {speed_fp32:5.2f}x",
        f"student batch-1 throughput, ORT int8 / eager:   {eager.latency_ms[0] / int8.latency_ms[0]:5.2f}x",
        f"student batch-{eager.batch} throughput, ORT fp32 / eager:  {fp32.throughput / eager.throughput:5.2f}x",
        f"teacher batch-1 throughput, ORT fp32 / eager:   "
        f"{t_eager.latency_ms[0] / pick(teacher, 'onnxruntime fp32').latency_ms[0]:5.2f}x",
        f"size, teacher (safetensors) / student ONNX fp32: {smaller:5.1f}x",
        f"size, teacher (safetensors) / student ONNX int8: {t_eager.size / int8.size:5.1f}x",
        f"batch-1 latency, eager teacher / ORT fp32 student: {t_eager.latency_ms[0] / fp32.latency_ms[0]:5.1f}x",
        f"target: ONNX student >= 2.5x eager student's batch-1 throughput: {'met' if speed_fp32 >= 2.5 else 'MISSED'}",
        f"target: ONNX student >= 10x smaller than the teacher: {'met' if smaller >= 10 else 'MISSED'}",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet50")
    parser.add_argument("--student", default="mobilenetv2_100")
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--iterations", type=int, default=10, help="batch-1 calls per runtime (a tenth at --batch)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="threads per runtime (default: one per core)")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantiser logs advice on the root logger
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dermkit-portable-") as tmp:
        rows = {}
        for role, name in (("teacher", args.teacher), ("student", args.student)):
            folder = model_folder(Path(tmp) / role, name, args.classes, args.image_size)
            rows[role] = bench_model(folder, iterations=args.iterations, batch=args.batch, threads=args.threads)
            for row in rows[role]:
                row.model = f"{role} {name}"
    threads, calls = args.threads or os.cpu_count(), max(1, args.iterations // 10)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.image_size} px, "
          f"{args.classes} classes, random init, {threads} threads per runtime; {args.iterations} batch-1 calls "
          f"and {calls} batch-{args.batch} calls per runtime, interleaved")  # fmt: skip
    print(format_bench([*rows["teacher"], *rows["student"]]))
    print()
    print("\n".join(ratio_lines(rows["teacher"], rows["student"])))
    print(f"total time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
