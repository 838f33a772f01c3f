"""Model-side speed options: channels_last gives the default's logits; the loaders a run gets from its data."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from dermkit import config
from dermkit.data.batch_dataset import BatchArrayDataset
from dermkit.data.dataset import ImageDataset
from dermkit.engine.lightning import TaskModule
from dermkit.engine.setup import build_components
from dermkit.engine.train import build_run
from dermkit.recipes import resolve_recipe
from tests.conftest import TINY


def _modules() -> tuple[TaskModule, TaskModule]:
    cfg = config.load(resolve_recipe("demo"), ["model.name=test_resnet"])
    task = build_components(cfg, ["a", "b", "c"], [4, 4, 4]).task
    optim, sched = cfg.optim.model_dump(), cfg.sched.model_dump()
    default = TaskModule(copy.deepcopy(task), optim, sched, channels_last=False)
    fast = TaskModule(copy.deepcopy(task), optim, sched, channels_last=True)
    return default.eval(), fast.eval()


def test_channels_last_logits_equal_the_default_within_1e_5() -> None:
    default, fast = _modules()
    convs = [m.weight for m in fast.task.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    torch.manual_seed(0)
    image = torch.randn(6, 3, 40, 40)
    batch = {"image": image, "target": torch.tensor([0, 1, 2, 0, 1, 2])}
    with torch.no_grad():
        plain = default(default.on_after_batch_transfer(dict(batch), 0))
        nhwc_batch = fast.on_after_batch_transfer(dict(batch), 0)
        assert nhwc_batch["image"].is_contiguous(memory_format=torch.channels_last)
        nhwc = fast(nhwc_batch)
    assert torch.allclose(plain["logits"], nhwc["logits"], atol=1e-5, rtol=0)
    assert torch.allclose(plain["loss"], nhwc["loss"], atol=1e-5, rtol=0)


def test_default_layout_puts_batched_nhwc_views_back_in_nchw() -> None:
    default, _ = _modules()
    view = torch.randn(2, 40, 40, 3).permute(0, 3, 1, 2)  # what the batched loaders hand over
    assert default.on_after_batch_transfer({"image": view}, 0)["image"].is_contiguous()


@pytest.mark.parametrize("cache", [False, True])
def test_a_run_loads_batches_from_arrays_when_cached_and_per_image_otherwise(
    cache: bool, tmp_path: Path, synth_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DERMKIT_CACHE_DIR", str(tmp_path / "caches"))
    overrides = [f"data.root={synth_dir}", *TINY, "data.num_workers=null", "data.train_transform=flips"]
    cfg = config.load(resolve_recipe("demo"), [*overrides, *(["data.cache=auto"] if cache else [])])
    run = build_run(cfg, tmp_path / "run")
    kind = BatchArrayDataset if cache else ImageDataset
    assert isinstance(run.train_loader.dataset, kind) and isinstance(run.val_loader.dataset, kind)
    assert all((r.pixels is not None) == cache for r in run.data.train.records + run.data.val.records)
    if cache:  # 48-px images in memory: no worker processes
        assert run.train_loader.num_workers == 0
        batch = next(iter(run.val_loader))
        reference = ImageDataset(run.data.val.records[:16], run.preprocess)
        assert np.array_equal(batch["image"].numpy(), torch.stack([i["image"] for i in reference]).numpy())


def test_ema_weights_are_validated_checkpointed_and_exported(tmp_path: Path, synth_dir: Path) -> None:
    from safetensors.torch import load_file

    from dermkit.engine.train import train

    ema = ["trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.ema_decay=0.5"]
    overrides = [f"data.root={synth_dir}", *TINY, *ema]
    result = train(config.load(resolve_recipe("demo"), overrides), tmp_path / "run")
    checkpoint = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    averaged, live = checkpoint["state_dict"], checkpoint["current_model_state"]  # Lightning's EMA callback
    exported = load_file(tmp_path / "run" / "model.safetensors")
    name = next(key for key in exported if key.endswith("weight") and exported[key].ndim == 4)
    assert torch.equal(exported[name], averaged[f"task.model.{name}"].contiguous())
    assert not torch.equal(exported[name], live[f"task.model.{name}"].contiguous())


def test_last_checkpoint_is_a_link_to_the_best_written_at_the_same_step(tmp_path: Path, synth_dir: Path) -> None:
    from dermkit.engine.train import train

    overrides = [f"data.root={synth_dir}", *TINY, "trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    train(config.load(resolve_recipe("demo"), overrides), tmp_path / "run")  # one epoch: its score is the best
    best, last = tmp_path / "run" / "best.ckpt", tmp_path / "run" / "last.ckpt"
    assert best.samefile(last) and best.stat().st_nlink == 2  # one file written, not two
    assert torch.load(last, weights_only=True)["epoch"] == 0
