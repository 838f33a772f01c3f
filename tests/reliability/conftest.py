"""Reliability fixtures: a tiny dataset and model, real tmpfs mounts (full, read-only) where the machine allows them.

A tmpfs mount needs root (or CAP_SYS_ADMIN); where ``mount`` is refused the tests that need one are skipped, and the
write-layer tests (``os.fsync`` patched to raise ENOSPC) still cover a full disk.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dermkit.data.synthetic import make_synthetic_dataset

#: A seconds-long CPU run of the demo recipe on 32-px images.
FAST = [
    "model.name=test_resnet",
    "data.image_size=32",
    "data.resize=32",
    "data.batch_size=8",
    "data.num_workers=0",
    "sched.name=none",
    "trainer.max_epochs=1",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
]

#: Names a failed write must never leave behind: atomic writers' temporaries, the streamed CSV, the write probe.
LEFTOVER_MARKERS = (".tmp", ".partial", ".dermkit-check")


def leftovers(*roots: Path) -> list[Path]:
    """Temporary or partial files below ``roots`` (which may not exist)."""
    found = []
    for root in roots:
        if root.is_dir():
            found += [p for p in root.rglob("*") if any(mark in p.name for mark in LEFTOVER_MARKERS)]
    return found


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line of a command's stderr (fails on anything else, a traceback included)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-3000:]
    return lines[0]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 12 synthetic 32-px lesions in class folders."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    make_synthetic_dataset(root, ("benign", "malignant"), per_class=12, size=32, seed=1)
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A test_resnet trained for one epoch on ``tiny_data`` (library API)."""
    from dermkit import config
    from dermkit.engine.train import train
    from dermkit.recipes import resolve_recipe

    out = tmp_path_factory.mktemp("model") / "run"
    train(config.load(resolve_recipe("demo"), [f"data.root={tiny_data}", "optim.lr=1e-3", *FAST]), out)
    return out


def _mount(args: list[str]) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` for the block (skips the test where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]):
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        _mount(["umount", "-l", str(path)])


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last byte."""
    with tmpfs(tmp_path / "full", "64k") as root:
        with contextlib.suppress(OSError), (root / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield root


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: room to start, not to finish (a checkpoint, a few hundred images)."""
    with tmpfs(tmp_path / "small", "256k") as root:
        yield root


@pytest.fixture
def read_only(tmp_path: Path, tiny_model: Path) -> Iterator[Path]:
    """A read-only tmpfs holding a copy of ``tiny_model`` as ``model/``."""
    with tmpfs(tmp_path / "ro", "32m") as root:
        (root / "model").mkdir()
        for name in ("model.json", "model.safetensors"):
            (root / "model" / name).write_bytes((tiny_model / name).read_bytes())
        if not _mount(["mount", "-o", "remount,ro", str(root)]):
            pytest.skip("remounting read-only was refused")
        yield root
