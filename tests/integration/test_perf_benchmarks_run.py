"""The data-path benchmarks keep working as dermkit changes (tiny runs; their numbers are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RUNS = {
    "train_arrays.py": (["--images", "256", "--epochs", "2", "--repeats", "1"], ["ratio dermkit / plain"]),
    "large_jpegs.py": (
        ["--images", "40", "--model", "test_resnet", "--epochs", "2", "--repeats", "1", "--batch-size", "8"],
        ["ratio dermkit (JPEGs) / plain", "ratio dermkit (cache) / plain", "epoch time cache / JPEGs"],
    ),
    "predict_folder.py": (
        ["--images", "16", "--model", "test_resnet", "--image-size", "32", "--repeats", "1", "--small", "50",
         "--large", "200"],
        ["ratio predict / raw forward", "peak RSS predicting", "growth"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_runs_and_prints_its_ratios(script: str, tmp_path: Path) -> None:
    args, lines = RUNS[script]
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            timeout=900, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "machine:" in result.stdout and all(line in result.stdout for line in lines)
