"""Scaling out on this machine: one epoch of training and a sharded predict, in 1 process vs 2 (gloo, CPU).

Both runs go through torchrun (``--standalone``, loopback) and the code a user runs: ``train()`` with
``trainer.devices=P trainer.strategy=ddp``, and the sharded predict of ``dermkit predict`` (each rank predicts its
shard into a part file, rank 0 merges). The timed span starts once every process is ready (after start-up and, for
training, the first epoch): for training the last epoch's training batches (no validation), for prediction from a
barrier to rank 0's merged CSV. It prints images/s of each and the scaling ratio (2 processes / 1).

Three setups run, alternating: one process with a torch thread per core, one process with one thread, and two
processes with one thread each (torchrun's default). Two processes on two cores share the same cores: the first ratio
(2 processes / 1 process on all cores) is what data parallelism costs or gains on this machine, the second (per
thread) how close to 2x the processes scale; neither is what a second machine would add.

    python benchmarks/scaleout.py                                 # resnet18 at 64 px, 256 images, 2 epochs
    python benchmarks/scaleout.py --model test_resnet --images 48 --image-size 48 --epochs 1 --repeats 1  # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _train_worker(args: argparse.Namespace) -> None:
    import lightning as L
    import torch

    from dermkit import config as config_module
    from dermkit.engine.train import train
    from dermkit.inference.shards import leave_process_group
    from dermkit.recipes import resolve_recipe

    class EpochTimer(L.Callback):
        """Seconds of the last epoch's training batches, and the images in one epoch (all processes)."""

        def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            self.seconds = time.perf_counter() - self.start
            self.images = len(trainer.train_dataloader.dataset)

    procs = int(os.environ.get("WORLD_SIZE", "1"))
    overrides = [
        f"data.root={args.data}",
        f"model.name={args.model}",
        f"data.image_size={args.image_size}",
        f"data.resize={args.image_size}",
        f"data.batch_size={args.batch_size}",
        "data.num_workers=0",
        "data.val_fraction=0.1",
        f"trainer.max_epochs={args.epochs}",
        "trainer.accelerator=cpu",
        f"trainer.devices={procs}",
        f"trainer.strategy={'ddp' if procs > 1 else 'auto'}",
        "trainer.progress_bar=false",
        "trainer.limit_val_batches=0",
        "trainer.monitor=train/loss",
        "model.pretrained=false",
    ]
    timer = EpochTimer()
    finished = False
    try:
        config = config_module.load(resolve_recipe("demo"), overrides)
        result = train(config, args.out, callbacks=[timer], overwrite=True)
        finished = True
    finally:
        leave_process_group(finished)  # as `dermkit train` does: a process leaving gloo alive can abort at exit
    if result.primary:
        report = {"seconds": timer.seconds, "images": timer.images, "threads": torch.get_num_threads()}
        Path(args.result).write_text(json.dumps(report))


def _predict_worker(args: argparse.Namespace) -> None:
    import torch

    from dermkit.data.inputs import collect_images
    from dermkit.inference.outputs import predict_to_csv
    from dermkit.inference.predictor import Predictor
    from dermkit.inference.sharded import predict_sharded
    from dermkit.inference.shards import detect_shard, joined

    predictor, records, shard = Predictor.from_checkpoint(args.model), collect_images([args.data]), detect_shard()
    options = {"batch_size": args.batch_size, "num_workers": 0}
    with joined(shard) as group:
        group.gather(None)  # every process is loaded and ready: start the clock together
        start = time.perf_counter()
        if shard.count > 1:
            predict_sharded(predictor, records, args.out, shard, **options)
        else:
            predict_to_csv(predictor, records, args.out, **options)
        seconds = time.perf_counter() - start
    if shard.index == 0:
        report = {"seconds": seconds, "images": len(records), "threads": torch.get_num_threads()}
        Path(args.result).write_text(json.dumps(report))


#: (processes, torch threads per process; None: one per core)
SETUPS = ((1, None), (1, 1), (2, 1))


def _launch(
    setup: tuple[int, int | None], worker: str, args: argparse.Namespace, out: Path, model: Path | None
) -> dict:
    procs, threads = setup
    result = out.with_name(f"{out.name}.json")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads or os.cpu_count())}
    options = {
        "--data": args.data,
        "--out": out,
        "--result": result,
        "--model": model or args.model,
        "--image-size": args.image_size,
        "--batch-size": args.batch_size,
        "--epochs": args.epochs,
    }
    command = [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={procs}", __file__, "--worker", worker]
    command += [str(item) for pair in options.items() for item in pair]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env)
    if done.returncode != 0:
        sys.exit(f"{worker} on {procs} processes failed:\n{done.stderr[-3000:]}")
    return json.loads(result.read_text())


def _rate(run: dict) -> float:
    return run["images"] / run["seconds"]


def _measure(worker: str, args: argparse.Namespace, root: Path, model: Path | None) -> list[dict]:
    """The best run of each setup over ``args.repeats`` alternating rounds."""
    best: list[dict] = [{} for _ in SETUPS]
    for _ in range(args.repeats):
        for i, setup in enumerate(SETUPS):
            run = _launch(setup, worker, args, root / f"{worker}{i}", model)
            best[i] = max(best[i] or run, run, key=_rate)
    return best


def _row(name: str, runs: list[dict]) -> None:
    rates = [_rate(run) for run in runs]
    cells = " | ".join(f"{rate:.1f}" for rate in rates)
    print(f"| {name} | {cells} | {rates[2] / rates[0]:.2f} | {rates[2] / rates[1]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2, help="The last one is timed.")
    parser.add_argument("--repeats", type=int, default=2, help="Alternating runs of each; the best is kept.")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds each launch may take.")
    parser.add_argument("--worker", choices=("train", "predict"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return (_train_worker if args.worker == "train" else _predict_worker)(args)

    from dermkit.data.synthetic import make_synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        args.data = root / "data"
        make_synthetic_dataset(args.data, ("benign", "malignant"), per_class=args.images // 2, size=args.image_size)
        train = _measure("train", args, root, None)
        predict = _measure("predict", args, root, root / "train0")
        same = (root / "predict0").read_text() == (root / "predict2").read_text()
    print(
        f"scale-out on {os.cpu_count()} CPU cores ({platform.machine()}), gloo over loopback: {args.model} at "
        f"{args.image_size} px, {args.images} images, batch {args.batch_size} per process, best of {args.repeats}"
    )
    threads = [run["threads"] for run in train]
    print(
        f"| img/s | 1 process ({threads[0]} threads) | 1 process ({threads[1]} thread) | 2 processes ({threads[2]} "
        "thread each) | ratio 2 / 1 | ratio 2 / 1 at 1 thread |"
    )
    print("|---|---|---|---|---|---|")
    _row(f"train, epoch {args.epochs}", train)
    _row("sharded predict", predict)
    print(f"merged predictions identical to one process's: {same}")


if __name__ == "__main__":
    main()
