"""`trainer.devices` and `trainer.strategy` pass straight through: two DDP processes on CPU (gloo), one report."""

from __future__ import annotations

import csv
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


def test_ddp_with_a_whole_unreadable_val_shard_finishes_with_the_other_shards_val_loss(
    tmp_path: Path, synth_dir: Path
) -> None:
    data = tmp_path / "data"
    for name in ("benign", "malignant"):
        shutil.copytree(synth_dir / name, data / "train" / name)
        good = sorted((synth_dir / name).iterdir())[0]
        # Sorted val order is benign/a, benign/b, malignant/a, malignant/b; DistributedSampler hands process 0
        # items 0 and 2 (both broken) and process 1 items 1 and 3 (both readable).
        (data / "val" / name).mkdir(parents=True)
        (data / "val" / name / "a_broken.jpg").write_bytes(b"not a jpeg")
        shutil.copy(good, data / "val" / name / f"b_good{good.suffix}")
    script = Path(sys.executable).with_name("dermkit")
    ddp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    args = [str(script), "train", "demo", f"data.root={data}", *TINY, "data.batch_size=2", "trainer.max_epochs=2",
            *ddp, "--out", str(tmp_path / "run")]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    # The val loss is the mean over the readable images of both processes: the best epoch's (lowest) val/loss is the
    # log loss that the final evaluation of the best weights finds on those same two images.
    with (tmp_path / "run" / "logs" / "metrics.csv").open() as handle:
        val_losses = [float(row["val/loss"]) for row in csv.DictReader(handle) if row["val/loss"]]
    val_metrics = json.loads((tmp_path / "run" / "val_metrics.json").read_text())
    assert val_metrics["n"] == 2 and val_metrics["unreadable"] == 2
    assert min(val_losses) == pytest.approx(val_metrics["log_loss"], rel=1e-4)
