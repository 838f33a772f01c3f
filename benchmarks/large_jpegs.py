"""Training on 2000x1500 JPEGs: dermkit (decoding each epoch, and from its decoded-image cache) against a plain loop
on pre-resized copies, and the epoch time from the cache against the epoch time from the JPEGs.

The images are synthetic dermoscopy-like lesions enlarged to 2000 x 1500 with fine texture (about 1 MB per JPEG, as
camera photos). The plain loop is a hand-written script that trains on copies resized once to the training resize
(Pillow, JPEG quality 95), decoding them with Pillow in DataLoader workers each epoch; dermkit trains on the
originals, first decoding them every epoch (reduced-scale JPEG decoding), then with ``data.cache=auto`` (decoded once,
before the first epoch; that build is timed separately). All use the same network, batch, optimiser, eval-style
preprocessing (resize, centre crop, normalise), memory layout (``--channels-last``), worker count and steps, and
write one checkpoint per epoch; the first epoch is not timed.

    python benchmarks/large_jpegs.py                                  # 200 images, resnet18 at 64 px
    python benchmarks/large_jpegs.py --image-size 224 --images 64    # the large end
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import timm
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dermkit import config as config_module
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.engine.train import train
from dermkit.recipes import resolve_recipe

MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def make_photos(root: Path, images: int) -> tuple[Path, Path, list[str]]:
    """``root/photos/<class>/*.jpg`` at 2000 x 1500 and the classes; plain copies are made by :func:`pre_resize`."""
    small = root / "small"
    make_synthetic_dataset(small, ("benign", "malignant"), per_class=images // 2, size=256, seed=0)
    rng = np.random.default_rng(0)
    for path in sorted(small.rglob("*.jpg")):
        big = cv2.resize(np.asarray(Image.open(path).convert("RGB")), (2000, 1500), interpolation=cv2.INTER_CUBIC)
        texture = rng.normal(0, 6, (1500, 2000, 1)).astype(np.float32)  # skin grain: realistic JPEG sizes
        photo = np.clip(big.astype(np.float32) + texture, 0, 255).astype(np.uint8)
        target = root / "photos" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(target, quality=90)
    return root / "photos", small, ["benign", "malignant"]


def pre_resize(photos: Path, out: Path, resize: int) -> list[tuple[Path, int]]:
    """What a user does by hand before a plain script: copies with the short side at ``resize``."""
    items = []
    for label, folder in enumerate(sorted(p for p in photos.iterdir() if p.is_dir())):
        for path in sorted(folder.glob("*.jpg")):
            image = Image.open(path)
            image.draft("RGB", (resize, resize))
            scale = resize / min(image.size)
            copy = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)), Image.BOX)
            target = out / folder.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            copy.save(target, quality=95)
            items.append((target, label))
    return items


class PlainDataset(Dataset):
    """Decode a small copy with Pillow, centre crop, normalise."""

    def __init__(self, items: list[tuple[Path, int]], size: int) -> None:
        self.items, self.size = items, size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        top, left = (image.shape[0] - self.size) // 2, (image.shape[1] - self.size) // 2
        crop = (image[top : top + self.size, left : left + self.size] - MEAN) / STD
        return torch.from_numpy(crop.transpose(2, 0, 1).copy()), label


def plain_loop(args: argparse.Namespace, items: list[tuple[Path, int]], out: Path) -> float:
    """Seconds per epoch (epochs 2..N) of a plain loop on the pre-resized copies."""
    torch.manual_seed(0)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = timm.create_model(args.model, num_classes=2).to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DataLoader(PlainDataset(items, args.image_size), batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers, persistent_workers=args.workers > 0)  # fmt: skip
    stamps = []
    for _ in range(args.epochs):
        stamps.append(time.perf_counter())
        for images, targets in loader:
            logits = model(images.contiguous(memory_format=layout))
            loss = torch.nn.functional.cross_entropy(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, out / "plain.pt")
    stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[1]) / (args.epochs - 1)


class EpochStamps(L.Callback):
    """When each epoch starts (and training ends), and how many images each epoch trained on."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.images: list[int] = []

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.stamps.append(time.perf_counter())
        self.images.append(0)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.images[-1] += batch["image"].shape[0]

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.stamps.append(time.perf_counter())


def dermkit_run(args: argparse.Namespace, photos: Path, out: Path, cache: bool) -> tuple[float, float, int]:
    """Seconds per epoch (epochs 2..N) of ``dermkit train`` on the 2000 x 1500 originals, the seconds before the
    first epoch (reading the data, hashing it for the hold-out, and building the cache with ``cache``), and the
    images per epoch (5 % are held out for validation)."""
    timer, start = EpochStamps(), time.perf_counter()
    overrides = [
        f"data.root={photos}", f"model.name={args.model}", f"data.image_size={args.image_size}",
        f"data.resize={args.resize}", f"data.batch_size={args.batch_size}", f"data.num_workers={args.workers}",
        "data.train_transform=none", "data.val_fraction=0.05", "loss.name=ce", "optim.name=adamw", "optim.lr=1e-3",
        "sched.name=none", f"trainer.max_epochs={args.epochs}", "trainer.limit_val_batches=0",
        "trainer.monitor=train/loss", "trainer.progress_bar=false", "model.head_init=default",
        f"data.cache={out / 'caches' if cache else 'null'}",
        f"trainer.channels_last={args.channels_last}",
    ]  # fmt: skip
    train(config_module.load(resolve_recipe("demo"), overrides), out / "dermkit_run", overwrite=True,
          callbacks=[timer])  # fmt: skip
    return (timer.stamps[-1] - timer.stamps[1]) / (args.epochs - 1), timer.stamps[0] - start, timer.images[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=max(0, len(os.sched_getaffinity(0)) - 1))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="Both sides train in channels_last (dermkit: trainer.channels_last).")  # fmt: skip
    args = parser.parse_args()
    args.resize = round(args.image_size * 256 / 224)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        photos, _, _ = make_photos(out, args.images)
        items = pre_resize(photos, out / "copies", args.resize)
        plain, raw, cached, build = [], [], [], []
        for _ in range(args.repeats):
            plain.append(plain_loop(args, items, out))
            raw.append(dermkit_run(args, photos, out, cache=False)[0])
            seconds, before, n = dermkit_run(args, photos, out, cache=True)
            cached.append(seconds)
            build.append(before)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    print(f"task: {args.model} at {args.image_size} px (resize {args.resize}) from {len(items)} 2000x1500 JPEGs, "
          f"batch {args.batch_size}, {args.workers} workers, {args.epochs} epochs (first not timed), "
          f"{args.repeats} alternating repeats, channels_last {args.channels_last}")  # fmt: skip
    rate = {"plain": len(items) / min(plain), "raw": n / min(raw), "cached": n / min(cached)}
    print(f"plain loop on pre-resized copies        {rate['plain']:7.1f} img/s  {min(plain):6.2f} s/epoch")
    print(f"dermkit, decoding the JPEGs each epoch  {rate['raw']:7.1f} img/s  {min(raw):6.2f} s/epoch")
    print(f"dermkit, data.cache=auto                {rate['cached']:7.1f} img/s  {min(cached):6.2f} s/epoch "
          f"(read + cache built once: {max(build):.1f} s before epoch 1)")  # fmt: skip
    print(f"ratio dermkit (JPEGs) / plain (copies)  {rate['raw'] / rate['plain']:7.3f}   (target >= 0.9)")
    print(f"ratio dermkit (cache) / plain (copies)  {rate['cached'] / rate['plain']:7.3f}   (target >= 0.9)")
    print(f"epoch time cache / JPEGs               {min(cached) / min(raw):7.3f}   (target <= 0.3)")


if __name__ == "__main__":
    main()
