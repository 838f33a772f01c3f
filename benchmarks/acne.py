"""LDL vs LDS on the same synthetic acne faces, the same network and the same budget, in one run.

Trains ``configs/acne04_ldl.yaml`` and ``configs/acne04_lds.yaml`` (ResNet-18 from scratch at 64 px instead of an
ImageNet ResNet-50 at 224 px, so it runs on a laptop CPU) on ``dermkit synth --task acne`` faces, evaluates both on
the held-out test split and prints grade accuracy, quadratic kappa, Youden index and count MAE / RMSE side by side,
next to the constant predictors (most common grade, median count) as the floor.

    python benchmarks/acne.py [--n 400] [--epochs 20] [--out runs/bench_acne]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from dermkit import config
from dermkit.data import read_dataset
from dermkit.data.synthetic_acne import make_synthetic_acne_dataset
from dermkit.engine.train import train
from dermkit.evaluation import evaluate
from dermkit.inference import Predictor

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
COLUMNS = ("accuracy", "quadratic_kappa", "youden", "count_mae", "count_rmse")


def constant_floor(manifest: Path) -> dict[str, float]:
    rows = list(csv.DictReader(manifest.open()))
    train_rows = [row for row in rows if row["split"] != "test"]
    test_rows = [row for row in rows if row["split"] == "test"]
    grades = [row["grade"] for row in train_rows]
    majority, median = max(set(grades), key=grades.count), float(np.median([int(r["count"]) for r in train_rows]))
    errors = np.array([int(row["count"]) - median for row in test_rows], dtype=float)
    return {"accuracy": float(np.mean([row["grade"] == majority for row in test_rows])), "quadratic_kappa": 0.0,
            "youden": 0.0, "count_mae": float(np.abs(errors).mean()),
            "count_rmse": float(np.sqrt((errors**2).mean()))}  # fmt: skip


def run(recipe: str, manifest: Path, out: Path, epochs: int) -> tuple[dict, float]:
    overrides = [f"data.root={manifest}", "data.format=csv_manifest", "model.name=resnet18", "model.pretrained=false",
                 "data.image_size=64", "data.resize=64", "data.train_resize=72", "data.batch_size=16",
                 "data.num_workers=0", f"trainer.max_epochs={epochs}", f"sched.step_size={max(1, epochs * 2 // 3)}",
                 "optim.lr=0.01", "trainer.progress_bar=false"]  # fmt: skip
    start = time.perf_counter()
    train(config.load(CONFIGS / f"{recipe}.yaml", overrides), out / recipe, overwrite=True)
    seconds = time.perf_counter() - start
    test = read_dataset(manifest).subset("test")
    return evaluate(Predictor.from_checkpoint(out / recipe), test).metrics, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_acne"))
    args = parser.parse_args()
    manifest = make_synthetic_acne_dataset(args.out / "faces", n=args.n, size=64, seed=0).manifest
    results = {"constant": (constant_floor(manifest), 0.0)}
    for recipe in ("acne04_ldl", "acne04_lds"):
        results[recipe] = run(recipe, manifest, args.out, args.epochs)
    print(f"{args.n} synthetic faces at 64 px, ResNet-18 from scratch, {args.epochs} epochs, same data and seed")
    print(f"{'':12s}" + "".join(f"{name:>17s}" for name in (*COLUMNS, "train s")))
    for name, (metrics, seconds) in results.items():
        print(f"{name:12s}" + "".join(f"{metrics[key]:17.3f}" for key in COLUMNS) + f"{seconds:17.0f}")


if __name__ == "__main__":
    main()
