"""The scripts in benchmarks/ keep working as dermkit changes (a tiny run; its numbers are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "overhead.py"


def test_overhead_benchmark_runs_and_prints_its_ratios(tmp_path: Path) -> None:
    args = [sys.executable, str(SCRIPT), "--model", "test_resnet", "--image-size", "32", "--resize", "36",
            "--source-size", "64", "--images", "100", "--batch-size", "10", "--epochs", "2", "--workers", "0",
            "--repeats", "1"]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("plain PyTorch loop", "dermkit train", "ratio dermkit / plain", "data loader, skin_classifier"):
        assert line in result.stdout


def test_bootstrap_benchmark_checks_both_paths_agree_and_prints_the_speed_up(tmp_path: Path) -> None:
    args = [sys.executable, str(BENCHMARKS / "bootstrap.py"), "--images", "300", "--classes", "4", "--resamples", "20"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "intervals equal on both paths" in result.stdout and "speed-up (copying / weighted)" in result.stdout


def test_acne_benchmark_runs_both_recipes_and_prints_the_table(tmp_path: Path) -> None:
    args = [sys.executable, str(BENCHMARKS / "acne.py"), "--n", "40", "--epochs", "1", "--out", str(tmp_path / "b")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for row in ("constant", "acne04_ldl", "acne04_lds"):
        assert row in result.stdout


def test_scaleout_benchmark_runs_one_and_two_processes_and_prints_the_ratios(tmp_path: Path) -> None:
    tiny = ["--model", "test_resnet", "--images", "24", "--image-size", "48", "--batch-size", "8", "--epochs", "1"]
    args = [sys.executable, str(BENCHMARKS / "scaleout.py"), *tiny, "--repeats", "1", "--timeout", "600"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("| train, epoch 1 |", "| sharded predict |", "ratio 2 / 1", "identical to one process's: True"):
        assert line in result.stdout
