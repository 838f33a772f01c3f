"""mixup and CutMix (``dermkit.data.batch_mixing``) and the classify task's ``task.mixup_alpha``/``cutmix_alpha``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dermkit import config
from dermkit.data.batch_mixing import BatchMixer, Mix, cutmix, cutmix_box, mixup
from dermkit.engine.train import train
from dermkit.errors import ConfigError
from dermkit.losses import create_loss
from dermkit.recipes import resolve_recipe
from dermkit.tasks.classify_training import ClassifyTask
from tests.conftest import TINY


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_mixed_loss_equals_cross_entropy_against_the_mixed_soft_label(label_smoothing: float) -> None:
    """torch's cross-entropy with probability targets ``lam * onehot(y) + (1 - lam) * onehot(y[partner])`` is the
    reference; dermkit never builds that label."""
    torch.manual_seed(0)
    logits, target = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 1, 0])
    partner, lam = torch.tensor([3, 0, 5, 1, 2, 4]), 0.7
    loss = create_loss("ce", 4, label_smoothing=label_smoothing or None)
    ours = Mix(torch.empty(0), partner, lam).loss(loss, logits, target)
    soft = lam * F.one_hot(target, 4).float() + (1 - lam) * F.one_hot(target[partner], 4).float()
    assert torch.allclose(ours, F.cross_entropy(logits, soft, label_smoothing=label_smoothing), atol=1e-6)


def test_mixup_blends_each_image_with_its_partner() -> None:
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 2)  # image i is all i
    mixed = mixup(images, torch.tensor([2, 0, 1]), 0.25)
    assert mixed[:, 0, 0, 0].tolist() == [0.25 * 0 + 0.75 * 2, 0.25 * 1 + 0.75 * 0, 0.25 * 2 + 0.75 * 1]


def test_cutmix_lam_is_the_share_of_pixels_each_image_keeps() -> None:
    """Counted pixel by pixel, for boxes clipped at the borders as well as inner ones."""
    generator = torch.Generator().manual_seed(0)
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 20, 30)
    partner = torch.tensor([1, 2, 3, 0])
    for drawn in (0.1, 0.3, 0.5, 0.9) * 5:
        box = cutmix_box(20, 30, drawn, generator)
        mixed, lam = cutmix(images, partner, box)
        kept = (mixed == images).all(dim=1).float().mean(dim=(1, 2))  # per image, over the 20 x 30 pixels
        assert torch.allclose(kept, torch.full((4,), lam))
        assert torch.equal(mixed[(mixed != images)], images[partner][(mixed != images)])
        assert 1 - lam <= 1 - drawn + 1e-9  # clipping only ever shrinks the box


def test_batch_mixer_mixes_the_asked_share_of_batches_and_picks_both_methods() -> None:
    torch.manual_seed(0)
    images = torch.rand(8, 3, 16, 16)
    mixer = BatchMixer(mixup_alpha=0.4, cutmix_alpha=1.0, prob=0.5, switch_prob=0.5)
    draws = [mixer(images) for _ in range(400)]
    mixes = [mix for mix in draws if mix is not None]
    assert 160 <= len(mixes) <= 240  # binomial(400, 0.5): 5 standard deviations
    moved = [mix.partner != torch.arange(8) for mix in mixes]  # images mixed with another one
    boxed = [mix for mix, m in zip(mixes, moved, strict=True) if (mix.images[m] == images[m]).any()]  # CutMix's
    assert 0.35 <= len(boxed) / len(mixes) <= 0.65
    assert all(sorted(mix.partner.tolist()) == list(range(8)) for mix in mixes)
    assert not BatchMixer().active and BatchMixer()(images) is None


def test_classify_task_mixes_in_training_only() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    task = ClassifyTask(model, create_loss("ce", 3), 3, mixer=BatchMixer(mixup_alpha=1.0))
    batch = {"image": torch.rand(6, 3, 4, 4), "target": torch.tensor([0, 1, 2, 0, 1, 2])}
    plain = F.cross_entropy(model(batch["image"]), batch["target"])
    assert torch.allclose(task.eval()(batch)["loss"], plain)
    assert not torch.allclose(task.train()(batch)["loss"], plain)


def test_task_overrides_merge_into_a_named_task_and_other_tasks_refuse_mixing(tmp_path: Path) -> None:
    cfg = config.load(resolve_recipe("demo"), ["task.mixup_alpha=0.2"])  # the recipe says `task: classify`
    assert cfg.task["name"] == "classify" and cfg.task["mixup_alpha"] == 0.2
    with pytest.raises(ConfigError, match=r"task\.cutmix_alpha: unknown option of task .acne_ldl."):
        config.load(None, ["task.name=acne_ldl", "task.cutmix_alpha=1"])
    with pytest.raises(ConfigError, match=r"task\.mix_prob"):
        config.load(None, ["task.mix_prob=1.5"])


@pytest.mark.slow
def test_mixing_run_learns_the_synthetic_task_and_keeps_model_json_plain(tmp_path: Path, synth_dir: Path) -> None:
    """A learning test: mixup and CutMix, half the batches each, still separate the two synthetic classes."""
    overrides = [f"data.root={synth_dir}", *TINY, "data.val_fraction=0.3", "trainer.max_epochs=8"]
    overrides += ["task.mixup_alpha=0.4", "task.cutmix_alpha=1.0"]
    result = train(config.load(resolve_recipe("demo"), overrides), tmp_path / "run")
    metrics = json.loads((result.out_dir / "val_metrics.json").read_text())
    assert metrics["roc_auc"] >= 0.9
    assert json.loads((result.out_dir / "model.json").read_text())["task_options"] == {"name": "classify"}
