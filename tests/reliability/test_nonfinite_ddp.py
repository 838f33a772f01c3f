"""Under DDP (two gloo processes on CPU) a NaN loss on ONE process stops, or is skipped by, both together: the
processes vote each step, so none waits forever in an all-reduce the other never joins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dermkit
from tests.reliability.conftest import FAST

pytestmark = pytest.mark.slow

SRC = Path(dermkit.__file__).resolve().parents[1]

# Lightning's DDP launcher re-runs this script as the second process (LOCAL_RANK=1), so the poison is in both.
SCRIPT = """
import sys
from dermkit.cli import main
from dermkit.engine.lightning import TaskModule

real_step = TaskModule.training_step


def poisoned_step(self, batch, batch_idx):
    if self.global_rank == 1 and self.global_step == 1:  # process 1's second batch only: process 0's loss is finite
        real_forward = self.task.forward

        def nan_forward(inputs):
            out = real_forward(inputs)
            out["loss"] = out["loss"] * float("nan")
            return out

        self.task.forward = nan_forward
        try:
            return real_step(self, batch, batch_idx)
        finally:
            del self.task.forward
    return real_step(self, batch, batch_idx)


TaskModule.training_step = poisoned_step
sys.exit(main(sys.argv[1:]))
"""


def _train_ddp(tmp_path: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "poisoned_train.py"
    script.write_text(SCRIPT)
    ddp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "trainer.max_epochs=2"]
    args = [sys.executable, str(script), "train", "demo", f"data.root={data}", *FAST, "optim.lr=1e-3",
            "data.batch_size=4", *ddp, *extra, "--out", str(tmp_path / "run")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    # bounded: a process left waiting for the other's gradients would hang here until the timeout fails the test
    return subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)


def test_a_nan_on_one_process_stops_both_with_one_line(tmp_path: Path, tiny_data: Path) -> None:
    result = _train_ddp(tmp_path, tiny_data)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: the training loss is not finite at epoch 1 of 2, step 2 (learning rate 0.001): training stopped; "
        "no checkpoint had been saved yet; try a lower optim.lr, trainer.gradient_clip_val=1.0, or fp32 "
        "(trainer.precision=32); trainer.skip_nonfinite=N skips up to N such batches"
    ], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "last.ckpt").exists()


def test_a_nan_on_one_process_is_skipped_by_both_and_counted(tmp_path: Path, tiny_data: Path) -> None:
    result = _train_ddp(tmp_path, tiny_data, "trainer.skip_nonfinite=1")
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if "batch skipped" in line]
    assert len(warnings) == 1 and "step 2" in warnings[0], result.stderr[-3000:]  # reported once, by process 0
    assert result.stdout.count("skipped 1 training batches with a NaN/inf loss") == 1
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    assert spec["training"]["nonfinite_skipped"] == 1 and spec["training"]["epochs_run"] == 2
