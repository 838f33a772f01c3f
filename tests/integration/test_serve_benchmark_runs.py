"""benchmarks/serve.py keeps working (a tiny run; its numbers are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve.py"


def test_serve_benchmark_runs_and_prints_both_backends(tmp_path: Path) -> None:
    args = [sys.executable, str(SCRIPT), "--model", "test_resnet", "--image-size", "48", "--resize", "56"]
    args += ["--source-size", "96", "--images", "4", "--requests", "12", "--clients", "3", "--warmup", "2"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()}
    for backend in ("pytorch", "onnx"):  # raw x2, req/s, p50, p99, ratio: all measured
        assert len(rows[backend]) == 6 and all(float(value) > 0 for value in rows[backend]), result.stdout
