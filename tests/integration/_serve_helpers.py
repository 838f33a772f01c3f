"""Shared by the serve tests: a tiny model folder, encoded test images and a real uvicorn server in a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from dermkit.data.preprocess import Preprocess
from dermkit.models.artifact import Architecture, Decision, ModelSpec, save_model
from dermkit.models.factory import create_model

CLASSES = ["benign", "malignant"]


def make_model_dir(folder: Path, *, threshold: float = 0.3, card: str | None = None) -> Path:
    """A randomly initialised test_resnet model folder (48 px), binary, with a stored threshold."""
    spec = ModelSpec(
        architecture=Architecture(name="test_resnet", num_outputs=2),
        class_names=CLASSES,
        preprocessing=Preprocess(image_size=48, resize=56).to_dict(),
        decision=Decision(positive_class="malignant", threshold=threshold, threshold_source="recall>=0.99 on val"),
        metrics={"val": {"accuracy": 0.9, "roc_auc": float("nan")}},
    )
    torch_model = create_model("test_resnet", 2)
    save_model(folder, torch_model, spec)
    if card is not None:
        (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return folder


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (80, 60), seed: int = 0) -> bytes:
    """An encoded noise image of ``size`` (width, height)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """About 60 bytes: a PNG whose header claims ``width`` x ``height`` RGB pixels, with one tiny pixel-data chunk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextlib.contextmanager
def running_server(
    model_dir: Path, log: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``dermkit serve MODEL --port P`` in a subprocess on a free loopback port; yields its URL and the process.

    The server's output goes to ``log`` (a pipe nobody reads could fill up and stall it); ``env`` adds variables.
    """
    port = free_port()
    command = [sys.executable, "-c", "from dermkit.cli import main; raise SystemExit(main())", "serve", str(model_dir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen([*command, "--port", str(port), *args], env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on {url} did not answer within {timeout} s")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
