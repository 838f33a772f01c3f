"""Fixtures shared by the scale-out tests: a small archive with unreadable files and a model trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermkit.data.synthetic import make_synthetic_dataset

#: One epoch of timm's test_resnet at 48 px on CPU (48, not 32: a training batch left with one readable image
#: still has 2x2 feature maps for batch norm).
SMALL = ["model.name=test_resnet", "data.image_size=48", "data.resize=48", "data.batch_size=4", "data.num_workers=0",
         "trainer.max_epochs=1", "trainer.accelerator=cpu", "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
         "trainer.monitor=val/loss"]  # fmt: skip


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 12 synthetic 48-px images, plus 3 unreadable files per class (30 files)."""
    root = tmp_path_factory.mktemp("archive")
    make_synthetic_dataset(root, ("benign", "malignant"), per_class=12, size=48, seed=3)
    for name in ("benign", "malignant"):
        for i in range(3):
            (root / name / f"broken_{i}.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, archive: Path) -> Path:
    """A test_resnet trained for one epoch on ``archive`` (one process)."""
    from dermkit import config
    from dermkit.engine.train import train
    from dermkit.recipes import resolve_recipe

    out = tmp_path_factory.mktemp("model") / "run"
    train(config.load(resolve_recipe("demo"), [f"data.root={archive}", *SMALL]), out)
    return out
