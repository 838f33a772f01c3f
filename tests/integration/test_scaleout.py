"""Scaling out on loopback: two torchrun "nodes" train one model, sharded predict and evaluate under torchrun and
SLURM give the single-process rows and metrics, and the sbatch example runs under a stub srun/sbatch.

Every process is a real launcher child (torchrun, or the stub srun in ``slurm_stub/``) talking gloo over 127.0.0.1;
each launch is bounded by a timeout.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration._scaleout_helpers import SMALL, archive, model

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STUB = Path(__file__).parent / "slurm_stub"
__all__ = ["archive", "model"]  # fixtures
LAUNCH_TIMEOUT = 420


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any launcher's variables (the test itself may run under one), plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLURM_", "TORCHELASTIC_", "MASTER_", "GROUP_"))
        and key not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK")
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def single_process(args: list[str], cwd: Path) -> None:
    result = subprocess.run(
        [str(BIN / "dermkit"), *args], capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, cwd=cwd, env=clean_env()
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_two_torchrun_nodes_train_one_model_on_identical_splits_and_log_once(tmp_path: Path, archive: Path) -> None:
    port, run = free_port(), tmp_path / "run"
    launches = []
    for node in (0, 1):
        command = [
            str(BIN / "torchrun"),
            "--nnodes=2",
            f"--node-rank={node}",
            "--nproc-per-node=1",
            "--master-addr=127.0.0.1",
            f"--master-port={port}",
            "-m",
            "dermkit",
            "train",
            "demo",
            f"data.root={archive}",
            *SMALL,
            "trainer.num_nodes=2",
            "trainer.devices=1",
            "trainer.strategy=ddp",
            "--out",
            str(run),
        ]
        launches.append(
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
                env=clean_env(GLOO_SOCKET_IFNAME="lo"),
            )
        )
    outputs = [launch.communicate(timeout=LAUNCH_TIMEOUT) for launch in launches]
    for launch, (_, err) in zip(launches, outputs, strict=True):
        assert launch.returncode == 0, err[-3000:]
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("model:") == 1  # one export, one report
    spec = json.loads((run / "model.json").read_text())
    assert spec["training"]["config"]["trainer"]["num_nodes"] == 2
    # each rank reads the data and holds out the same validation images (seeded, duplicate-aware)
    splits = [
        re.search(rf"rank {node} of 2 \(node {node}\): (\d+) train \+ (\d+) val images, split (\w+)", err)
        for node, (_, err) in enumerate(outputs)
    ]
    assert all(splits) and splits[0].groups() == splits[1].groups()
    assert "training (rank 1 of 2): 1 epochs in" in outputs[1][1] and "rank 1 of 2 (node 1): 1 epochs" in outputs[1][1]
    # the log is written once: one row per logged step, not one per rank
    with (run / "logs" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sum(1 for row in rows if row["val/loss"]) == 1 and sum(1 for row in rows if row["train/loss_epoch"]) == 1
    # unreadable images on either node neither hang the other nor get lost: all 6 are reported, once
    skipped = (run / "skipped_images.txt").read_text().splitlines()
    broken = sorted(Path(line.split(":")[0]).name for line in skipped)
    assert broken == sorted([f"broken_{i}.jpg" for i in range(3)] * 2)
    assert (run / "config.yaml").is_file() and (run / "val_metrics.json").is_file()


def test_torchrun_sharded_predict_gives_the_rows_of_one_process_in_order(
    tmp_path: Path, archive: Path, model: Path
) -> None:
    single_process(["predict", str(model), str(archive), "--out", str(tmp_path / "single.csv")], tmp_path)
    command = [
        str(BIN / "torchrun"),
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "dermkit",
        "predict",
        str(model),
        str(archive),
        "--out",
        str(tmp_path / "sharded.csv"),
        "--batch-size",
        "5",
        "--num-workers",
        "0",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, cwd=tmp_path, env=clean_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    single = (tmp_path / "single.csv").read_text().splitlines()
    assert len(single) == 1 + 30 and sum(line.endswith(",") for line in single) == 24  # 6 rows carry an error
    assert (tmp_path / "sharded.csv").read_text().splitlines() == single
    assert "merged 2 parts: 30 rows, 24 predicted, 6 unreadable" in result.stdout
    for rank in (0, 1):  # a summary line per rank
        assert f"rank {rank} of 2: predicted 12 of 15 images" in result.stderr
    assert sorted(path.name for path in tmp_path.glob("sharded.csv*")) == ["sharded.csv"]  # the parts are gone


def test_srun_sharded_evaluate_gives_the_single_process_metrics(tmp_path: Path, archive: Path, model: Path) -> None:
    single_process(
        [
            "evaluate",
            str(model),
            str(archive),
            "--out",
            str(tmp_path / "single"),
            "--batch-size",
            "1",
            "--num-workers",
            "0",
            "--bootstrap",
            "100",
        ],
        tmp_path,
    )
    env = clean_env(
        SLURM_NTASKS="2",
        SLURM_NTASKS_PER_NODE="1",
        SLURM_NNODES="2",
        SLURM_JOB_NAME="evaluate",
        SLURM_JOB_ID="77",
        SLURM_NODELIST="127.0.0.1",
        MASTER_PORT=str(free_port()),
        SRUN_STUB_LOGS=str(tmp_path),
    )
    command = [
        str(STUB / "srun"),
        str(BIN / "dermkit"),
        "evaluate",
        str(model),
        str(archive),
        "--out",
        str(tmp_path / "sharded"),
        "--batch-size",
        "1",
        "--num-workers",
        "0",
        "--bootstrap",
        "100",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, cwd=tmp_path, env=env)
    logs = [(tmp_path / f"task-{rank}.err").read_text() for rank in (0, 1)]
    assert result.returncode == 0, logs
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    sharded = json.loads((tmp_path / "sharded" / "metrics.json").read_text())
    assert sharded == single and single["unreadable"] == 6 and single["n"] == 24
    rows = [(tmp_path / name / "predictions.csv").read_text() for name in ("single", "sharded")]
    assert rows[0] == rows[1]
    assert "rank 1 of 2: predicted 12 of 15 images" in logs[1]
    outs = [(tmp_path / f"task-{rank}.out").read_text() for rank in (0, 1)]
    assert "metrics.json" in outs[0] and outs[1] == ""  # rank 0 evaluates and reports


def test_the_sbatch_example_trains_on_two_slurm_tasks(tmp_path: Path, archive: Path) -> None:
    script = ROOT / "examples" / "slurm" / "train.sbatch"
    env = clean_env(
        DATA=str(archive),
        OUT=str(tmp_path / "run"),
        MASTER_PORT=str(free_port()),
        SRUN_STUB_LOGS=str(tmp_path),
        GLOO_SOCKET_IFNAME="lo",
    )
    env["PATH"] = f"{STUB}{os.pathsep}{env['PATH']}"
    assert shutil.which("sbatch", path=env["PATH"]) == str(STUB / "sbatch")
    command = ["sbatch", str(script), *SMALL, "trainer.accelerator=cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, cwd=tmp_path, env=env)
    logs = [(tmp_path / f"task-{rank}.err").read_text() for rank in (0, 1)]
    assert result.returncode == 0, logs
    outs = [(tmp_path / f"task-{rank}.out").read_text() for rank in (0, 1)]
    assert "model:" in outs[0] and "model:" not in outs[1]
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    trainer = spec["training"]["config"]["trainer"]
    assert (trainer["num_nodes"], trainer["devices"], trainer["strategy"]) == (2, 1, "ddp")
    assert "rank 1 of 2 (node 1): 1 epochs" in logs[1]
