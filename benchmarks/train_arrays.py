"""Training throughput on 28-px images: ``dermkit train`` against a plain loop holding the decoded tensors in memory.

Both train the same timm network (ResNet-18; ``--stem cifar`` for the MedMNIST 28-px stem) on the same images with
the same batch size, optimiser (Adam 1e-3), memory format and number of steps, without augmentation or validation.
The plain loop is what a hand-written script does: it loads the arrays once with numpy, normalises them into one
float tensor and slices shuffled batches from it, saving one checkpoint per epoch. dermkit reads ``data.root`` as a
user would (the MedMNIST reader, its arrays, batched loading, its Lightning loop with best and last checkpoints).
The first epoch is not timed; the runs alternate (plain, dermkit, plain, ...) and the best of each is compared.

    python benchmarks/train_arrays.py --data ../shared/data/dermamnist.npz      # DermaMNIST's 7,007 images
    python benchmarks/train_arrays.py --images 512 --epochs 2 --repeats 1       # synthetic arrays, a quick check
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import timm
import torch

from dermkit import config as config_module
from dermkit.engine.train import train
from dermkit.recipes import resolve_recipe


def synthetic_npz(path: Path, images: int) -> Path:
    """A MedMNIST-layout file of random 28-px images and 7 classes (throughput does not depend on the pixels)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", images), ("val", 64), ("test", 64)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 7, (n, 1))
    np.savez(path, **arrays)
    return path


def plain_network(args: argparse.Namespace) -> torch.nn.Module:
    model = timm.create_model("resnet18", num_classes=7)
    if args.stem == "cifar":  # the MedMNIST 28-px ResNet: 3x3 stride-1 stem, no max-pool
        model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
    return model.to(memory_format=torch.channels_last) if args.channels_last else model


def plain_loop(args: argparse.Namespace, npz: Path, out: Path) -> float:
    """Images per second of a plain loop over tensors decoded once (epochs 2..N)."""
    torch.manual_seed(0)
    with np.load(npz) as data:
        images, labels = data["train_images"][: args.images], data["train_labels"][: args.images, 0]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(labels.astype(np.int64))
    model = plain_network(args)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stamps = []
    model.train()
    for _ in range(args.epochs):
        stamps.append(time.perf_counter())
        order = torch.randperm(len(x))
        for start in range(0, len(x), args.batch_size):
            chosen = order[start : start + args.batch_size]
            loss = torch.nn.functional.cross_entropy(model(x[chosen]), y[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, out / "plain.pt")
    stamps.append(time.perf_counter())
    return len(x) * (args.epochs - 1) / (stamps[-1] - stamps[1])


class EpochStamps(L.Callback):
    """Times epochs 2..N from one epoch's start to the next's (checkpoints included)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.stamps.append(time.perf_counter())

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.stamps.append(time.perf_counter())


def dermkit_run(args: argparse.Namespace, npz: Path, out: Path) -> float:
    """Images per second of ``dermkit train`` on the same images and steps (epochs 2..N)."""
    timer = EpochStamps()
    batches = -(-args.images // args.batch_size)
    overrides = [
        f"data.root={npz}", "model.name=resnet18", f"model.stem={args.stem}", "model.head_init=default",
        "data.image_size=28", "data.resize=28", "data.resize_mode=square", "data.mean=[0.5,0.5,0.5]",
        "data.std=[0.5,0.5,0.5]", "data.train_transform=none", f"data.batch_size={args.batch_size}",
        "loss.name=ce", "optim.name=adam", "optim.lr=1e-3", "optim.weight_decay=0", "sched.name=none",
        f"trainer.max_epochs={args.epochs}", f"trainer.limit_train_batches={batches}", "trainer.limit_val_batches=0",
        "trainer.monitor=train/loss", "trainer.progress_bar=false", f"trainer.channels_last={args.channels_last}",
    ]  # fmt: skip
    config = config_module.load(resolve_recipe("demo"), overrides)
    train(config, out / "dermkit_run", overwrite=True, callbacks=[timer])
    return min(args.images, batches * args.batch_size) * (args.epochs - 1) / (timer.stamps[-1] - timer.stamps[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="a MedMNIST .npz (default: synthetic arrays)")
    parser.add_argument("--images", type=int, default=7007, help="training images used (the first N)")
    parser.add_argument("--stem", choices=("default", "cifar"), default="default")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--channels-last", type=lambda v: v.lower() in ("1", "true", "yes"), default=True)
    args = parser.parse_args()
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if args.data:  # a link, so that the reader's PNG and array cache goes here, not beside the user's file
            npz = out / args.data.name
            npz.symlink_to(args.data.expanduser().resolve())
        else:
            npz = synthetic_npz(out / "arrays.npz", args.images)
        with np.load(npz) as data:
            args.images = min(args.images, len(data["train_labels"]))
        plain, ours = [], []
        for _ in range(args.repeats):
            plain.append(plain_loop(args, npz, out))
            ours.append(dermkit_run(args, npz, out))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    print(f"task: resnet18 ({args.stem} stem) at 28 px on {args.images} {'DermaMNIST' if args.data else 'synthetic'} "
          f"images, batch {args.batch_size}, channels_last {args.channels_last}, {args.epochs} epochs "
          f"(first not timed), {args.repeats} alternating repeats")  # fmt: skip
    print(f"plain loop, tensors in memory   {max(plain):7.1f} img/s   (runs: {', '.join(f'{v:.1f}' for v in plain)})")
    print(f"dermkit train                   {max(ours):7.1f} img/s   (runs: {', '.join(f'{v:.1f}' for v in ours)})")
    print(f"ratio dermkit / plain           {max(ours) / max(plain):7.3f}   (target >= 0.95)")


if __name__ == "__main__":
    main()
