"""The bootstrap of the headline metrics: row weights on predictions sorted once, against copying every resample.

Both paths draw the same resamples (same seed) of the same synthetic predictions and compute every headline metric
of ``dermkit evaluate`` on each: the copying path indexes the rows of each resample and sorts the scores again for
every class and class pair (ROC-AUC, MAUC, average precision); the fast path (what evaluate uses) turns a resample
into row weights. Their intervals are checked to agree before the times are printed.

    python benchmarks/bootstrap.py                       # 10,000 images x 7 classes (HAM10000-sized), 200 resamples
    python benchmarks/bootstrap.py --images 2000 --classes 2 --resamples 1000
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from dermkit.metrics.bootstrap import bootstrap_metrics
from dermkit.metrics.headline import headline_functions
from dermkit.metrics.weighted import WeightedHeadline


def synthetic_predictions(images: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and float32-rounded softmax outputs of a model that is right about 70 % of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, images)
    logits = rng.normal(size=(images, classes)) + 2.0 * np.eye(classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba.astype(np.float32).astype(np.float64)


def copy_every_resample(y: np.ndarray, proba: np.ndarray, resamples: int, seed: int) -> dict[str, dict[str, float]]:
    """The baseline: the same draws as ``bootstrap_metrics``, each resample's rows copied and all metrics computed on
    the copy at once (one sort per class and class pair per resample)."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(resamples):
        rows = rng.integers(0, y.size, y.size)
        for name, value in WeightedHeadline(y[rows], proba[rows])().items():
            values.setdefault(name, []).append(value)
    bounds = {}
    for name, samples in values.items():
        finite = np.asarray(samples)[np.isfinite(samples)]
        low, high = np.quantile(finite, [0.025, 0.975])
        bounds[name] = {"low": float(low), "high": float(high)}
    return bounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=7)
    parser.add_argument("--resamples", type=int, default=200)
    args = parser.parse_args()
    y, proba = synthetic_predictions(args.images, args.classes)
    fast = headline_functions(args.classes)
    start = time.perf_counter()
    weighted = bootstrap_metrics(fast, y, proba, n_resamples=args.resamples, seed=0)
    timings = {"weighted": time.perf_counter() - start}
    start = time.perf_counter()
    copied = copy_every_resample(y, proba, args.resamples, seed=0)
    timings["copying"] = time.perf_counter() - start
    for metric, interval in weighted.items():
        for key in ("low", "high"):
            if not np.isclose(interval[key], copied[metric][key], rtol=1e-9, atol=1e-12):
                raise SystemExit(f"the two paths disagree on the {key} bound of {metric}")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads; {args.images} images x {args.classes} "
          f"classes, {len(fast)} metrics, {args.resamples} resamples (intervals equal on both paths)")  # fmt: skip
    for name, seconds in sorted(timings.items()):
        print(f"{name:>9}: {1000 * seconds / args.resamples:7.2f} ms per resample ({seconds:.2f} s)")
    print(f"speed-up (copying / weighted): {timings['copying'] / timings['weighted']:.1f}x")


if __name__ == "__main__":
    main()
