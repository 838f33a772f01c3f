"""The task contract holds: a task defined only in this module (regressing a lesion's size) trains, exports,
predicts and evaluates through the Python API (``train``, ``Predictor``, ``evaluate``) with no edit anywhere else."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn
from torchmetrics import MeanAbsoluteError, MetricCollection

from dermkit import config as config_module
from dermkit.data import read_dataset
from dermkit.engine.train import train
from dermkit.evaluation import evaluate
from dermkit.inference import Predictor
from dermkit.inference.outputs import predict_to_csv
from dermkit.models import create_model
from dermkit.tasks import TASKS, Built, Task, TaskOptions, register_task
from dermkit.tasks.base import network_options
from dermkit.tasks.training import TrainingTask

pytestmark = pytest.mark.slow


class SizeModule(TrainingTask):
    """Regresses ``size`` with the mean squared error."""

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        size = self.model(batch["image"])[:, 0]
        out = {"size": size}
        if "size" in batch:
            out["loss_mse"] = self.loss(size, batch["size"].float())
            out["loss"] = out["loss_mse"]
        return out

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": MeanAbsoluteError()})

    def update_metrics(self, metrics: MetricCollection, output: dict, batch: dict) -> None:
        metrics.update(output["size"], batch["size"].float())


@dataclass(frozen=True)
class SizePrediction:
    size: float

    def to_dict(self) -> dict[str, float]:
        return {"size": self.size}


@register_task
class LesionSize(Task):
    """Lesion radius (in tenths of the image) from the image: a regression, unlike every built-in task."""

    name = "test_lesion_size"
    options = TaskOptions
    outputs = ("size",)

    def item_targets(self, record: Any) -> dict[str, float]:
        return {"size": float(record.meta["size"])}

    def build(self, config: Any, class_names: Sequence[str], class_counts: Sequence[int]) -> Built:
        train_options, architecture = network_options(config.model, 1)
        return Built(SizeModule(create_model(**train_options), nn.MSELoss()), architecture)

    def postprocess(self, raw: Mapping[str, np.ndarray], spec: Any) -> dict[str, np.ndarray]:
        return {"size": raw["size"].mean(axis=0)[:, 0]}

    def prediction(self, row: Mapping[str, np.ndarray], spec: Any) -> SizePrediction:
        return SizePrediction(float(row["size"]))

    def csv_header(self, spec: Any, labelled: bool) -> list[str]:
        return [*(["true_size"] if labelled else []), "size"]

    def csv_rows(self, spec: Any, outputs: Mapping, readable: np.ndarray, targets: Mapping | None = None) -> list:
        truth = [] if targets is None else [[f"{t:.3f}"] for t in targets["size"]]
        cells = [[f"{s:.3f}"] if ok else [""] for s, ok in zip(outputs["size"], readable, strict=True)]
        return [[*(truth[i] if truth else []), *cells[i]] for i in range(len(cells))]

    def headline(self) -> list[str]:
        return ["mae"]

    def targets(self, table: Any, spec: Any, class_map: Any = None) -> dict[str, np.ndarray]:
        return {"size": np.array([float(record.meta["size"]) for record in table.records])}

    def metrics(self, spec: Any, outputs: Mapping, targets: Mapping) -> dict[str, Any]:
        return {"n": len(outputs["size"]), "mae": float(np.mean(np.abs(outputs["size"] - targets["size"])))}

    def metric_arrays(self, outputs: Mapping, targets: Mapping) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(len(outputs["size"]), dtype=np.int64), np.stack([targets["size"], outputs["size"]], axis=1)

    def metric_functions(self, spec: Any) -> dict:
        return {"mae": lambda y, p: float(np.mean(np.abs(p[:, 0] - p[:, 1])))}


def _disc_dataset(root: Path, n: int = 96, size: int = 32) -> Path:
    """Light skin with one dark disc whose radius (in tenths of the image side) is the target."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        radius = float(rng.uniform(0.1, 0.4))
        image = Image.new("RGB", (size, size), (220, 180, 160))
        cx, cy, r = size / 2 + rng.uniform(-2, 2), size / 2 + rng.uniform(-2, 2), radius * size
        ImageDraw.Draw(image).ellipse((cx - r, cy - r, cx + r, cy + r), fill=(90, 50, 40))
        image.save(root / "images" / f"disc_{i:03d}.png")
        split = "test" if i % 4 == 0 else "train"
        rows.append([f"images/disc_{i:03d}.png", "large" if radius > 0.25 else "small", f"{radius * 10:.3f}", split])
    with (root / "manifest.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label", "size", "split"], *rows])
    return root / "manifest.csv"


def test_a_task_defined_in_a_test_module_trains_exports_predicts_and_evaluates(tmp_path: Path) -> None:
    assert "test_lesion_size" in TASKS
    manifest = _disc_dataset(tmp_path / "data")
    config = config_module.load(None, [
        "task=test_lesion_size", f"data.root={manifest}", "model.name=resnet18", "model.stem=cifar",
        "data.image_size=32", "data.resize=32", "data.train_transform=none", "data.batch_size=16",
        "data.num_workers=0", "optim.lr=3e-3", "trainer.max_epochs=8", "trainer.progress_bar=false",
        "data.val_fraction=0.2",
    ])  # fmt: skip
    result = train(config, tmp_path / "run")
    assert "mae" in result.val_metrics
    assert "train/loss_mse" in (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()[0]

    predictor = Predictor.from_checkpoint(tmp_path / "run")
    assert predictor.spec.task == "test_lesion_size" and predictor.spec.outputs == ["size"]
    single = predictor.predict(tmp_path / "data" / "images" / "disc_001.png")
    assert isinstance(single, SizePrediction)

    test = read_dataset(manifest).subset("test")
    evaluation = evaluate(predictor, test, bootstrap=100)
    truth = np.array([float(r.meta["size"]) for r in test.records])
    constant = float(np.mean(np.abs(truth - truth.mean())))
    assert evaluation.metrics["mae"] < constant  # it learnt the size, not just its mean
    interval = evaluation.metrics["ci"]["mae"]
    assert interval["low"] <= evaluation.metrics["mae"] <= interval["high"]
    assert evaluation.header == ["path", "true_size", "size", "error"]

    (tmp_path / "data" / "images" / "broken.png").write_bytes(b"not a png")
    records = [*test.records[:3], type(test.records[0])(path=tmp_path / "data" / "images" / "broken.png")]
    summary = predict_to_csv(predictor, records, tmp_path / "preds.csv")
    rows = list(csv.DictReader((tmp_path / "preds.csv").open()))
    assert [row["path"] for row in rows] == [str(r.path) for r in records]
    assert rows[-1]["error"] and not rows[-1]["size"] and len(summary.errors) == 1
    assert float(rows[0]["size"]) == pytest.approx(evaluation.outputs["size"][0], abs=1e-3)
