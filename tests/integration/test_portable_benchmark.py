"""benchmarks/portable.py keeps working (a tiny run with timm's test models; its numbers are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "portable.py"


def test_portable_benchmark_prints_every_runtime_and_the_targets(tmp_path: Path) -> None:
    args = [sys.executable, str(SCRIPT), "--teacher", "test_resnet", "--student", "test_efficientnet",
            "--image-size", "32", "--iterations", "2", "--batch", "4", "--threads", "1"]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for runtime in ("pytorch eager", "onnxruntime fp32", "onnxruntime int8 (static)"):
        assert result.stdout.count(runtime) == 2, result.stdout
    for line in ("student batch-1 throughput, ORT fp32 / eager:", "size, teacher (safetensors) / student ONNX fp32:",
                 "target: ONNX student >= 2.5x eager student's batch-1 throughput: ",
                 "target: ONNX student >= 10x smaller than the teacher: "):  # fmt: skip
        assert line in result.stdout
