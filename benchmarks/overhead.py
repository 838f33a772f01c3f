"""dermkit's training overhead against a plain hand-written PyTorch loop, measured side by side in one run.

Both train the same timm model on the same synthetic JPEGs for the same number of steps, with the same batch size,
data workers, optimiser, eval-style preprocessing (resize + centre crop, no augmentation) and one checkpoint save per
epoch. The first epoch (worker start-up, allocator warm-up) is not timed. The runs alternate (plain, dermkit, plain,
dermkit, ...) and the best epoch-averaged throughput of each is compared.

It also prints the data loader's throughput with the ``skin_classifier`` augmentation preset next to the model's
pure training throughput (random tensors), which shows whether a run is data-bound or model-bound.

    python benchmarks/overhead.py                   # resnet18 at 112 px, 256 images x 4 epochs, 2 workers
    python benchmarks/overhead.py --model test_resnet --images 128 --epochs 3 --repeats 1   # a quick check
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import timm
import torch
from torch.utils.data import DataLoader, Dataset

from dermkit import config as config_module
from dermkit.data import read_dataset
from dermkit.data.dataset import ImageDataset, make_loader
from dermkit.data.decode import load_image
from dermkit.data.preprocess import Preprocess
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.data.transforms import create_transform
from dermkit.engine.train import train
from dermkit.recipes import resolve_recipe


class PlainDataset(Dataset):
    """What a hand-written script does: decode, resize, centre crop, normalise."""

    def __init__(self, paths: list[Path], labels: list[int], size: int, resize: int) -> None:
        self.paths, self.labels, self.size, self.resize = paths, labels, size, resize
        self.mean = np.array([0.485, 0.456, 0.406], np.float32)
        self.std = np.array([0.229, 0.224, 0.225], np.float32)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        import cv2

        image = np.asarray(load_image(self.paths[index], min_size=self.resize))
        h, w = image.shape[:2]
        scale = self.resize / min(h, w)
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        top, left = (h - self.size) // 2, (w - self.size) // 2
        image = image[top : top + self.size, left : left + self.size].astype(np.float32) / 255.0
        return torch.from_numpy(((image - self.mean) / self.std).transpose(2, 0, 1).copy()), self.labels[index]


def plain_loop(args: argparse.Namespace, paths: list[Path], labels: list[int], out: Path) -> float:
    """Images per second of a plain PyTorch training loop (epochs 2..N)."""
    torch.manual_seed(0)
    model = timm.create_model(args.model, num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DataLoader(
        PlainDataset(paths, labels, args.image_size, args.resize),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )
    seen, elapsed = 0, 0.0
    model.train()
    for epoch in range(args.epochs):
        start = time.perf_counter()
        count = 0
        for images, targets in loader:
            loss = torch.nn.functional.cross_entropy(model(images), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            count += images.shape[0]
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, out / "plain.pt")
        if epoch > 0:
            seen, elapsed = seen + count, elapsed + time.perf_counter() - start
    return seen / elapsed


class EpochTimer(L.Callback):
    """Times training epochs 2..N inside the Lightning run."""

    def __init__(self) -> None:
        self.seen, self.elapsed, self.start, self.count = 0, 0.0, 0.0, 0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start, self.count = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.count += batch["image"].shape[0]

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch > 0:
            self.seen += self.count
            self.elapsed += time.perf_counter() - self.start


def dermkit_run(args: argparse.Namespace, data: Path, out: Path) -> float:
    """Images per second of ``dermkit.train`` on the same data and steps (epochs 2..N)."""
    timer = EpochTimer()
    overrides = [
        f"data.root={data}", f"model.name={args.model}", f"data.image_size={args.image_size}",
        f"data.resize={args.resize}", f"data.batch_size={args.batch_size}", f"data.num_workers={args.workers}",
        "data.train_transform=none", "data.val_fraction=0.02", "loss.name=ce", "optim.name=adamw",
        "optim.lr=1e-3", "sched.name=none", f"trainer.max_epochs={args.epochs}", "trainer.limit_val_batches=0",
        "trainer.monitor=train/loss", "trainer.progress_bar=false", "model.head_init=default",
    ]  # fmt: skip
    config = config_module.load(resolve_recipe("demo"), overrides)
    train(config, out / "dermkit_run", overwrite=True, callbacks=[timer])
    return timer.seen / timer.elapsed


def loader_throughput(args: argparse.Namespace, data: Path, batches: int = 20) -> float:
    """Images per second the dermkit loader delivers with the skin_classifier preset."""
    table = read_dataset(data)
    preprocess = Preprocess(args.image_size, args.resize)
    transform = create_transform("skin_classifier", args.image_size, preprocess.mean, preprocess.std)
    loader = make_loader(
        ImageDataset(table.records, preprocess, transform), args.batch_size, shuffle=True, num_workers=args.workers
    )
    iterator, count = iter(loader), 0
    next(iterator)  # start the workers
    start = time.perf_counter()
    for _ in range(batches):
        try:
            count += next(iterator)["image"].shape[0]
        except StopIteration:
            iterator = iter(loader)
    return count / (time.perf_counter() - start)


def model_throughput(args: argparse.Namespace, steps: int = 8) -> float:
    """Images per second of forward + backward + step on random tensors (no data loading)."""
    model = timm.create_model(args.model, num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    targets = torch.randint(0, 2, (args.batch_size,))
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * args.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--resize", type=int, default=128)
    parser.add_argument("--source-size", type=int, default=448, help="side of the synthetic JPEGs")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data = out / "data"
        make_synthetic_dataset(data, per_class=args.images // 2, size=args.source_size, seed=0)
        table = read_dataset(data)
        paths, labels = [r.path for r in table.records], table.labels()
        plain, ours = [], []
        for _ in range(args.repeats):
            plain.append(plain_loop(args, paths, labels, out))
            ours.append(dermkit_run(args, data, out))
        loader = loader_throughput(args, data)
        model = model_throughput(args)

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}"
    )
    print(
        f"task: {args.model} at {args.image_size} px from {args.source_size} px JPEGs, {args.images} images, "
        f"batch {args.batch_size}, {args.workers} workers, {args.epochs} epochs (first not timed), "
        f"{args.repeats} alternating repeats"
    )
    print(f"plain PyTorch loop      {max(plain):7.1f} img/s   (runs: {', '.join(f'{v:.1f}' for v in plain)})")
    print(f"dermkit train           {max(ours):7.1f} img/s   (runs: {', '.join(f'{v:.1f}' for v in ours)})")
    print(f"ratio dermkit / plain   {max(ours) / max(plain):7.3f}   (target >= 0.95)")
    print(f"data loader, skin_classifier preset   {loader:7.1f} img/s")
    print(f"model training alone (random tensors) {model:7.1f} img/s")


if __name__ == "__main__":
    main()
