"""The EMA of the weights gets batch-norm statistics measured with the averaged weights (engine/ema.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from dermkit import config
from dermkit.data.dataset import ImageDataset
from dermkit.engine.ema import remeasure_batchnorm
from dermkit.engine.train import build_run, train
from dermkit.inference.predictor import Predictor
from dermkit.recipes import resolve_recipe
from tests.conftest import TINY


def test_remeasure_batchnorm_averages_the_batches_and_leaves_frozen_layers_alone() -> None:
    torch.manual_seed(0)
    conv, measured, frozen = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm2d(4)
    model = nn.Sequential(conv, measured, frozen).train()
    frozen.eval()
    frozen.running_mean.fill_(7.0)
    batches = [torch.randn(8, 3, 10, 10) * 3 + 1 for _ in range(4)]

    assert remeasure_batchnorm(model, batches) == 32

    with torch.no_grad():
        features = [conv(batch) for batch in batches]
    every = torch.cat(features)  # equal batches: the average of the batch means is the mean of every pixel
    assert torch.allclose(measured.running_mean, every.mean(dim=(0, 2, 3)), atol=1e-5)
    batch_vars = torch.stack([f.transpose(0, 1).reshape(4, -1).var(dim=1, unbiased=True) for f in features])
    assert torch.allclose(measured.running_var, batch_vars.mean(0), rtol=1e-4)
    assert measured.momentum == 0.1  # restored for training
    assert torch.equal(frozen.running_mean, torch.full((4,), 7.0))


def _first_batchnorm_means(run_dir: Path, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The exported network's first batch-norm running mean, and the one torch's ``update_bn`` measures with the
    same weights on ``images`` (the first layer's input does not depend on how the images are batched)."""
    exported = Predictor.from_checkpoint(run_dir).model
    reference = copy.deepcopy(exported)
    torch.optim.swa_utils.update_bn(DataLoader(images, batch_size=16, shuffle=True), reference)
    first = next(name for name, module in exported.named_modules() if isinstance(module, nn.BatchNorm2d))
    return exported.get_submodule(first).running_mean, reference.get_submodule(first).running_mean


def test_ema_model_exports_the_batchnorm_statistics_of_its_own_weights(tmp_path: Path, synth_dir: Path) -> None:
    """Measured again by torch's own ``update_bn`` on the training images, the exported EMA network's statistics
    match; with ``trainer.ema_bn_images=0`` (Lightning's averaged statistics of the live weights) they do not."""
    overrides = [f"data.root={synth_dir}", *TINY, "data.val_fraction=0.2", "data.train_transform=none"]
    overrides += ["trainer.max_epochs=2", "trainer.ema_decay=0.9", "trainer.monitor=train/loss"]
    cfg = config.load(resolve_recipe("demo"), overrides)
    run = build_run(cfg, tmp_path / "split")
    assert len(run.data.train) % 16 == 0  # equal batches: the batch means average to the image mean
    images = torch.stack([item["image"] for item in ImageDataset(run.data.train.records, run.preprocess)])

    measured = train(cfg, tmp_path / "measured").out_dir
    ours, reference = _first_batchnorm_means(measured, images)
    assert torch.allclose(ours, reference, atol=1e-4)
    averaged = train(config.load(resolve_recipe("demo"), [*overrides, "trainer.ema_bn_images=0"]), tmp_path / "avg")
    lightning, reference = _first_batchnorm_means(averaged.out_dir, images)
    assert (lightning - reference).abs().max() > 1e-2
