"""Prediction: ``predict_to_csv`` on a folder of JPEGs against the raw model forward on preloaded tensors, and the
peak memory of predicting 20,000 images against 2,000.

Throughput: the same network (untrained weights: speed does not depend on them), batch size and input size; the raw
side is ``model(x)`` under ``torch.inference_mode`` on tensors decoded and preprocessed beforehand (its best case),
dermkit's is :func:`dermkit.inference.outputs.predict_to_csv` as ``dermkit predict`` calls it: listing the folder,
decoding in worker processes, preprocessing, the forward pass, post-processing and writing the CSV. The runs
alternate and the best of each is compared.

Memory: ``predict_to_csv`` runs in a fresh process on 2,000 and on 20,000 tiny images (a tiny network, so the time
goes to the per-image bookkeeping) and reports each process's peak resident set size.

    python benchmarks/predict_folder.py                      # resnet18 at 224 px, 256 photos of 800 x 600
    python benchmarks/predict_folder.py --images 64 --small 200 --large 2000   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dermkit.data.inputs import collect_images
from dermkit.inference.outputs import predict_to_csv
from dermkit.inference.predictor import Predictor
from dermkit.models import create_model
from dermkit.models.artifact import Architecture, ModelSpec, save_model


def write_photos(folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> None:
    """``count`` smooth random JPEGs of ``size`` (width, height)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        coarse.resize(size, Image.Resampling.BICUBIC).save(folder / f"img{index:06d}.jpg", quality=90)


def make_model(folder: Path, name: str, size: int) -> Path:
    """A model folder (untrained ``name`` at ``size`` px, two classes) as ``dermkit train`` writes one."""
    model = create_model(name, 2)
    resize = round(size * 256 / 224)
    spec = ModelSpec(architecture=Architecture(name=name, num_outputs=2), class_names=["benign", "malignant"],
                     preprocessing={"image_size": size, "resize": resize})  # fmt: skip
    save_model(folder, model, spec)
    return folder


def raw_forward(predictor: Predictor, tensors: torch.Tensor, batch_size: int) -> float:
    """Images per second of the bare network on preprocessed tensors."""
    model = predictor.model
    with torch.inference_mode():
        model(tensors[:batch_size])  # warm-up
        start = time.perf_counter()
        for begin in range(0, len(tensors), batch_size):
            model(tensors[begin : begin + batch_size])
    return len(tensors) / (time.perf_counter() - start)


def dermkit_predict(predictor: Predictor, folder: Path, out: Path, batch_size: int, workers: int) -> float:
    """Images per second of ``predict_to_csv`` on the folder (listing it included)."""
    start = time.perf_counter()
    records = collect_images([folder])
    predict_to_csv(predictor, records, out, batch_size=batch_size, num_workers=workers)
    return len(records) / (time.perf_counter() - start)


def peak_rss_child(model: Path, folder: Path, out: Path, batch_size: int, workers: int) -> float:
    """Peak RSS (MB) of a fresh process predicting ``folder`` (run as ``--child``)."""
    args = [sys.executable, __file__, "--child", str(model), str(folder), str(out), str(batch_size), str(workers)]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def child(model: str, folder: str, out: str, batch_size: str, workers: str) -> None:
    predictor = Predictor.from_checkpoint(model)
    predict_to_csv(predictor, collect_images([folder]), out, batch_size=int(batch_size), num_workers=int(workers))
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="decoding processes (dermkit predict's default: 2)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--small", type=int, default=2000, help="images of the smaller memory run")
    parser.add_argument("--large", type=int, default=20000, help="images of the larger memory run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_photos(root / "photos", args.images, (800, 600))
        predictor = Predictor.from_checkpoint(make_model(root / "model", args.model, args.image_size))
        tensors = torch.from_numpy(np.stack([predictor.preprocess(np.asarray(Image.open(r.path).convert("RGB")))
                                             for r in collect_images([root / "photos"])]))  # fmt: skip
        raw, ours = [], []
        for _ in range(args.repeats):
            raw.append(raw_forward(predictor, tensors, args.batch_size))
            ours.append(dermkit_predict(predictor, root / "photos", root / "p.csv", args.batch_size, args.workers))
        tiny = make_model(root / "tiny", "test_resnet", 32)
        rss = {}
        for count in (args.small, args.large):
            write_photos(root / f"tiny{count}", count, (40, 40), seed=1)
            rss[count] = peak_rss_child(tiny, root / f"tiny{count}", root / "t.csv", 64, args.workers)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    print(f"task: {args.model} at {args.image_size} px on {args.images} 800x600 JPEGs, batch {args.batch_size}, "
          f"{args.workers} decoding workers, {args.repeats} alternating repeats")  # fmt: skip
    runs = {name: ", ".join(f"{v:.1f}" for v in values) for name, values in (("raw", raw), ("ours", ours))}
    print(f"raw model forward, preloaded tensors  {max(raw):7.1f} img/s   (runs: {runs['raw']})")
    print(f"dermkit predict_to_csv on the folder  {max(ours):7.1f} img/s   (runs: {runs['ours']})")
    print(f"ratio predict / raw forward           {max(ours) / max(raw):7.3f}   (target >= 0.9)")
    print(f"peak RSS predicting {args.small:6d} images    {rss[args.small]:7.1f} MB   (test_resnet at 32 px)")
    print(f"peak RSS predicting {args.large:6d} images    {rss[args.large]:7.1f} MB")
    print(f"growth                                {rss[args.large] - rss[args.small]:7.1f} MB   (target < 50 MB)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
