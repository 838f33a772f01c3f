"""On a synthetic long-tailed set, a class-balancing loss raises few-shot recall and G-mean over plain cross-entropy.

Training images fall from 60 (head class) to 3 (tail) per class, ``dermkit synth --imbalance 20``; the test set is
balanced. Plain CE learns the head's prior and misses the tail; logit adjustment (Menon et al., ICLR 2021) trains
against the prior and predicts with the raw logits, which moves decisions towards the rare classes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dermkit import config
from dermkit.data import read_dataset
from dermkit.data.synthetic import long_tail_counts, make_synthetic_dataset
from dermkit.engine.setup import training_data
from dermkit.engine.train import train
from dermkit.evaluation import evaluate
from dermkit.inference.predictor import Predictor
from dermkit.recipes import resolve_recipe

pytestmark = pytest.mark.slow
NAMES = ["c0", "c1", "c2", "c3"]
OVERRIDES = ["model.name=test_resnet", "data.image_size=32", "data.resize=32", "data.batch_size=16",
             "data.num_workers=0", "optim.lr=3e-3", "trainer.max_epochs=10", "trainer.monitor=val/loss",
             "trainer.progress_bar=false", "data.val_fraction=0.2", "seed=0"]  # fmt: skip


@pytest.fixture(scope="module")
def long_tail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("longtail")
    counts = long_tail_counts(len(NAMES), 60, 20)
    assert counts == [60, 22, 8, 3]
    make_synthetic_dataset(root / "train", NAMES, per_class=counts, size=32, seed=5, image_format="png")
    make_synthetic_dataset(root / "test", NAMES, per_class=20, size=32, seed=6, image_format="png")
    return root


def train_and_test(root: Path, out: Path, *loss: str) -> dict:
    table = read_dataset(root)
    cfg = config.load(resolve_recipe("demo"), [*OVERRIDES, *loss])
    train(cfg, out, data=training_data(table.subset("train"), cfg.data.val_fraction, cfg.seed))
    return evaluate(Predictor.from_checkpoint(out), table.subset("test")).metrics


def test_logit_adjustment_raises_few_shot_recall_and_g_mean_over_cross_entropy(long_tail: Path, tmp_path: Path) -> None:
    ce = train_and_test(long_tail, tmp_path / "ce", "loss.name=ce")
    adjusted = train_and_test(long_tail, tmp_path / "la", "loss.name=logit_adjusted", "loss.tau=1")
    assert ce["shots"]["classes"] == {"many": 0, "medium": 1, "few": 3}  # after the validation hold-out: 48, 18, 6, 2
    recall = {name: [m["per_class"][c]["recall"] for c in ("c2", "c3")] for name, m in (("ce", ce), ("la", adjusted))}
    assert sum(recall["la"]) > sum(recall["ce"]), recall  # the two rarest classes
    assert adjusted["few_shot_accuracy"] > ce["few_shot_accuracy"]
    assert adjusted["g_mean"] > ce["g_mean"] and adjusted["balanced_accuracy"] > ce["balanced_accuracy"]
