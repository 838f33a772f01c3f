"""Shared fixtures: tiny synthetic datasets and one small trained run, all made in temporary folders.

Nothing here touches the network: models are timm's tiny ``test_*`` networks with random init, images are 48 px.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dermkit.data.synthetic import make_synthetic_dataset

#: Overrides that turn the demo recipe into a seconds-long CPU run that still learns the synthetic task.
TINY = [
    "model.name=test_resnet",
    "data.image_size=48",
    "data.resize=48",
    "data.batch_size=16",
    "data.num_workers=0",
    "optim.lr=3e-3",
    "trainer.max_epochs=15",
    "trainer.monitor=val/loss",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
]


@pytest.fixture(autouse=True)
def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 50 synthetic 48-px lesions in class folders, with manifest.csv (patient ids, skin types)."""
    root = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(root, ("benign", "malignant"), per_class=50, size=48, seed=1, manifest=True)
    return root


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> Path:
    """A test_resnet trained for a few seconds on ``synth_dir`` (library API, no CLI)."""
    from dermkit import config
    from dermkit.engine.train import train
    from dermkit.recipes import resolve_recipe

    out = tmp_path_factory.mktemp("run") / "run"
    train(config.load(resolve_recipe("demo"), [f"data.root={synth_dir}", "data.val_fraction=0.3", *TINY]), out)
    return out
