"""`trainer.devices` and `trainer.strategy` pass straight through: two DDP processes on CPU (gloo), one report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow


def test_ddp_on_two_cpu_processes_trains_and_exports_once(tmp_path: Path, synth_dir: Path) -> None:
    script = Path(sys.executable).with_name("dermkit")
    args = [
        str(script),
        "train",
        "demo",
        f"data.root={synth_dir}",
        *TINY,
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "--out",
        str(tmp_path / "run"),
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("model:") == 1  # only global rank 0 exports and reports
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    assert spec["training"]["config"]["trainer"]["strategy"] == "ddp"
    assert (tmp_path / "run" / "best.ckpt").is_file() and (tmp_path / "run" / "val_metrics.json").is_file()


def test_ddp_with_all_unreadable_batches_neither_hangs_nor_loses_skipped_images(
    tmp_path: Path, synth_dir: Path
) -> None:
    data = tmp_path / "data"
    for name in ("benign", "malignant"):
        shutil.copytree(synth_dir / name, data / name)
        for i in range(12):  # at batch size 2 some batches of each process hold only broken files
            (data / name / f"broken_{i}.jpg").write_bytes(b"not a jpeg")
    script = Path(sys.executable).with_name("dermkit")
    ddp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    args = [str(script), "train", "demo", f"data.root={data}", *TINY, "data.batch_size=2", "trainer.max_epochs=1",
            *ddp, "--out", str(tmp_path / "run")]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    skipped = (tmp_path / "run" / "skipped_images.txt").read_text().splitlines()
    train_broken = {line.split(":")[0] for line in skipped}
    assert len(train_broken) >= 20  # those of both processes (the val share holds the rest)
