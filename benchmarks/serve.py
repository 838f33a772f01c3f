"""``/predict`` over loopback against the raw predictor, measured side by side in one run.

The same model folder (random weights: speed does not depend on them) and the same synthetic JPEGs go

1. straight into ``Predictor.predict(bytes)``, one image per call, from one thread and from as many threads as the
   server has inference slots (the raw images/s), then
2. through ``dermkit serve`` (uvicorn in a subprocess on a free loopback port) as multipart ``POST /predict``
   requests of one image each, from ``--clients`` concurrent HTTP clients (bounded), after a few warm-up requests.

It prints requests/s, p50 and p99 latency and the ratio of the server's requests/s to the raw images/s at the same
concurrency (what HTTP, multipart parsing and JSON cost), per backend: the PyTorch model folder, then the same
weights exported to ONNX (``dermkit export``) and served from the ``.onnx`` file (ONNX Runtime, no torch in the
request path); its raw rate is the ``OnnxPredictor``'s.

    python benchmarks/serve.py                                  # resnet18 at 224 px, 4 clients, 200 requests
    python benchmarks/serve.py --model test_resnet --image-size 48 --resize 56 --requests 40   # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import torch

from dermkit.data.preprocess import Preprocess
from dermkit.data.synthetic import render_lesion
from dermkit.inference.onnx_export import export_onnx
from dermkit.inference.runtime import load_predictor
from dermkit.models.artifact import Architecture, ModelSpec, save_model
from dermkit.models.factory import create_model

MAX_CLIENTS = 32


def make_model(folder: Path, args: argparse.Namespace) -> Path:
    spec = ModelSpec(
        architecture=Architecture(name=args.model, num_outputs=2),
        class_names=["benign", "malignant"],
        preprocessing=Preprocess(image_size=args.image_size, resize=args.resize).to_dict(),
    )
    return save_model(folder, create_model(args.model, 2), spec)


def make_jpegs(count: int, size: int) -> list[bytes]:
    images = []
    for index in range(count):
        image, _ = render_lesion(np.random.default_rng([7, index]), index % 2, 2, size)
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        images.append(encoded.tobytes())
    return images


def raw_images_per_second(predictor: Any, jpegs: list[bytes], count: int, threads: int = 1) -> float:
    """``predict(bytes)`` calls of one image each from ``threads`` threads (the server's inference slots)."""
    for data in jpegs[:3]:
        predictor.predict(data)
    counter = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            predictor.predict(jpegs[index % len(jpegs)])

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - start)


@contextlib.contextmanager
def server(model_dir: Path, max_concurrency: int, log: Path) -> Iterator[str]:
    """``dermkit serve`` on a free loopback port; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from dermkit.cli import main; raise SystemExit(main())", "serve", str(model_dir)]
    command += ["--port", str(port), "--max-concurrency", str(max_concurrency)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"server did not start: {log.read_text()[-1500:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def load(url: str, jpegs: list[bytes], requests: int, clients: int) -> tuple[float, np.ndarray]:
    """Requests/s and latencies (s) of ``requests`` one-image ``/predict`` calls from ``clients`` threads."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                files = {"file": ("lesion.jpg", jpegs[index % len(jpegs)], "image/jpeg")}
                start = time.perf_counter()
                response = http.post("/predict", files=files)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return requests / wall, np.asarray(latencies)


def measure(model: Path, jpegs: list[bytes], args: argparse.Namespace, log: Path) -> tuple[str, ...]:
    """One backend's row: raw predictor images/s (1 and ``--max-concurrency`` threads), then the served model's
    requests/s, p50 and p99 latency and the ratio of requests/s to the raw rate at the server's concurrency."""
    predictor = load_predictor(model)
    count = max(args.requests // 2, 10)
    raw_one = raw_images_per_second(predictor, jpegs, count)
    raw = raw_images_per_second(predictor, jpegs, count, args.max_concurrency)
    del predictor
    with server(model, args.max_concurrency, log) as url:
        load(url, jpegs, args.warmup, args.clients)
        rate, latencies = load(url, jpegs, args.requests, args.clients)
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    return f"{raw_one:.1f}", f"{raw:.1f}", f"{rate:.1f}", f"{p50:.1f}", f"{p99:.1f}", f"{rate / raw:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--resize", type=int, default=256)
    parser.add_argument("--source-size", type=int, default=512, help="side of the synthetic JPEGs")
    parser.add_argument("--images", type=int, default=32, help="distinct JPEGs, reused round-robin")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4, help=f"concurrent HTTP clients (at most {MAX_CLIENTS})")
    parser.add_argument("--max-concurrency", type=int, default=2, help="the server's inference slots")
    parser.add_argument("--warmup", type=int, default=8)
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS}")
    print(f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.model} at {args.image_size} px from {args.source_size} px JPEGs; {args.requests} one-image requests")
    print(f"{args.clients} concurrent clients; server --max-concurrency {args.max_concurrency}")
    jpegs = make_jpegs(args.images, args.source_size)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model(Path(tmp) / "model", args)
        onnx_file = export_onnx(model_dir, Path(tmp) / "model.onnx").path
        slots = args.max_concurrency
        columns = ("raw 1 thr", f"raw {slots} thr", "req/s", "p50 ms", "p99 ms", "ratio")
        print(f"{'backend':10s} " + " ".join(f"{name:>10s}" for name in columns))
        for name, model in (("pytorch", model_dir), ("onnx", onnx_file)):
            values = measure(model, jpegs, args, Path(tmp) / f"{name}.log")
            print(f"{name:10s} " + " ".join(f"{value:>10s}" for value in values))
    print(f"ratio = server requests/s over loopback / raw predictor images/s with {slots} threads (the server's slots)")


if __name__ == "__main__":
    main()
