"""Long-tailed recognition: plain cross-entropy against the class-imbalance toolbox and SPBL, in one run.

Every method trains the same tiny model on the same synthetic long-tailed training set (``dermkit synth --classes N
--imbalance R``: class sizes fall exponentially from the head class to 1/R of it) with the same seed and the same
budget of epochs, selects its best epoch on the same validation images held out of training, and is tested on the same
balanced test set. SPBL spends the budget over its rounds (epochs // rounds per round). Printed side by side:
balanced accuracy, G-mean (plain, and SPBL's with zero recalls at 0.001), MAUC (Hand & Till) and many / medium /
few-shot accuracy (classes with > 100, 20-100, < 20 training images).

Methods: ``ce``; ``class_balanced`` (Cui et al., CVPR 2019); ``focal`` (Lin et al., ICCV 2017); ``logit_adjusted``
(Menon et al., ICLR 2021); ``ldam_drw`` (Cao et al., NeurIPS 2019; re-weighting from 2/3 of the epochs); ``spbl``
(Yang, Wu et al., IEEE TNNLS 2020).

    python benchmarks/longtail.py                                  # the README table (about 3 minutes, 2 CPU cores)
    python benchmarks/longtail.py --classes 4 --head 40 --epochs 2 --methods ce,spbl   # a quick check
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch

from dermkit import config as config_module
from dermkit.data import read_dataset
from dermkit.data.synthetic import long_tail_counts, make_synthetic_dataset
from dermkit.engine.setup import training_data
from dermkit.engine.train import train
from dermkit.evaluation import evaluate
from dermkit.inference.predictor import Predictor
from dermkit.recipes import resolve_recipe

COLUMNS = (
    "balanced_accuracy",
    "g_mean",
    "g_mean_spbl",
    "mauc",
    "many_shot_accuracy",
    "medium_shot_accuracy",
    "few_shot_accuracy",
)
SHORT = ("bal acc", "G-mean", "G-mean*", "MAUC", "many", "medium", "few")


def method_overrides(name: str, epochs: int, pace: list[float]) -> list[str]:
    """The recipe overrides of one method under a budget of ``epochs`` epochs (SPBL: split over its rounds)."""
    rounds = len(pace) + 1
    methods = {
        "ce": ["loss.name=ce"],
        "class_balanced": ["loss.name=class_balanced", "loss.beta=0.999"],
        "focal": ["loss.name=focal", "loss.gamma=2"],
        "logit_adjusted": ["loss.name=logit_adjusted", "loss.tau=1"],
        "ldam_drw": ["loss.name=ldam", f"loss.drw_epoch={2 * epochs // 3}"],
        "spbl": ["task.name=spbl", f"task.pace={pace}", f"trainer.max_epochs={max(1, epochs // rounds)}"],
    }
    if name not in methods:
        raise SystemExit(f"unknown method '{name}'; choose from: {', '.join(methods)}")
    return methods[name]


def make_data(root: Path, args: argparse.Namespace) -> list[int]:
    """``root/train`` long-tailed, ``root/test`` balanced (another seed), as split folders; returns train sizes."""
    names = [f"class_{k:02d}" for k in range(args.classes)]
    counts = long_tail_counts(args.classes, args.head, args.imbalance)
    make_synthetic_dataset(root / "train", names, per_class=counts, size=args.size, seed=args.seed, image_format="png")
    make_synthetic_dataset(
        root / "test", names, per_class=args.test_per_class, size=args.size, seed=args.seed + 1000, image_format="png"
    )
    return counts


def run_method(name: str, root: Path, out: Path, args: argparse.Namespace, pace: list[float]) -> dict:
    """Train one method on ``root``'s train split and evaluate it on its test split."""
    overrides = [
        f"data.root={root}",
        f"model.name={args.model}",
        f"data.image_size={args.size}",
        f"data.resize={args.size}",
        f"data.batch_size={args.batch_size}",
        f"data.num_workers={args.workers}",
        "data.train_transform=light",
        f"optim.lr={args.lr}",
        f"trainer.max_epochs={args.epochs}",
        "trainer.monitor=val/balanced_acc",
        "trainer.progress_bar=false",
        f"seed={args.seed}",
        "data.val_fraction=0.15",
        *method_overrides(name, args.epochs, pace),
    ]
    config = config_module.load(resolve_recipe("demo"), overrides)
    table = read_dataset(root)
    data = training_data(table.subset("train"), config.data.val_fraction, config.seed)
    start = time.perf_counter()
    train(config, out / name, overwrite=True, data=data)
    seconds = time.perf_counter() - start
    result = evaluate(Predictor.from_checkpoint(out / name), table.subset("test"), batch_size=64)
    return {**{key: result.metrics.get(key) for key in COLUMNS}, "seconds": seconds}


def _cell(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--head", type=int, default=200, help="images of the largest class")
    parser.add_argument("--imbalance", type=float, default=50.0, help="largest / smallest class")
    parser.add_argument("--test-per-class", type=int, default=20)
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--model", default="test_resnet")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: robust when other jobs share the CPU)"
    )
    parser.add_argument("--pace", default="0.5,1.0", help="SPBL's pace schedule (rounds = 1 + its length)")
    parser.add_argument("--methods", default="ce,class_balanced,focal,logit_adjusted,ldam_drw,spbl")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("dermkit").setLevel(logging.WARNING)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    pace = [float(r) for r in args.pace.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        counts = make_data(root, args)
        rounds = len(pace) + 1
        machine = f"{platform.machine()}, {torch.get_num_threads()} threads"
        print(
            f"synthetic long tail: {args.classes} classes, {sum(counts)} training images ({counts[0]} down to "
            f"{counts[-1]}), {args.test_per_class} test images per class, {args.size} px, {args.model}, "
            f"{args.epochs} epochs (SPBL: {rounds} rounds x {max(1, args.epochs // rounds)}), seed {args.seed}; "
            f"{machine}"
        )
        print(f"{'method':16s}" + "".join(f"{name:>9s}" for name in SHORT) + f"{'seconds':>9s}")
        for name in args.methods.split(","):
            row = run_method(name, root, Path(tmp) / "runs", args, pace)
            cells = "".join(f"{_cell(row[key]):>9s}" for key in COLUMNS)
            print(f"{name:16s}{cells}{row['seconds']:9.0f}", flush=True)
    print(
        "G-mean* is SPBL's G-mean (zero recalls count as 0.001); many / medium / few: accuracy on test images of "
        "classes with > 100, 20-100, < 20 training images; all in %"
    )


if __name__ == "__main__":
    main()
