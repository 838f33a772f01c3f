"""``dermkit demo``: synthesise -> split -> train -> evaluate -> predict, on CPU, in a few minutes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermkit import config as config_module
from dermkit.data import read_dataset
from dermkit.data.inputs import collect_images
from dermkit.data.split_manifests import split_dataset
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.engine.train import train
from dermkit.evaluation.pipeline import evaluate_to_folder
from dermkit.inference.outputs import predict_to_csv
from dermkit.inference.predictor import Predictor
from dermkit.recipes import resolve_recipe


@dataclass
class DemoResult:
    """Where the demo put things, and the test metrics."""

    test_metrics: dict[str, Any]
    paths: dict[str, Path]


def run_demo(
    out: str | Path,
    *,
    epochs: int = 8,
    per_class: int = 150,
    log: Callable[[str], object] = print,
    overrides: list[str] | None = None,
) -> DemoResult:
    """Run the whole flow into ``out`` (``data/``, ``lists/``, ``model/``, ``eval/`` with ``report.html``,
    ``predictions.csv``).

    Args:
        out: the demo folder (re-running replaces the previous demo's model).
        epochs: training epochs.
        per_class: synthetic images per class.
        log: where progress lines go.
        overrides: extra ``key=value`` config overrides (tests use them to shrink the run).
    """
    out = Path(out)
    data_dir, lists_dir, model_dir, eval_dir = out / "data", out / "lists", out / "model", out / "eval"
    log(f"1/5 synthesising {2 * per_class} images -> {data_dir}")
    make_synthetic_dataset(data_dir, ("benign", "malignant"), per_class=per_class, size=96, seed=0, manifest=True)
    log(f"2/5 splitting by patient (70/15/15) -> {lists_dir}")
    split_dataset(
        read_dataset(data_dir / "manifest.csv"), lists_dir, val=0.15, test=0.15, seed=0, group_by="patient_id"
    )
    log(f"3/5 training resnet18 from scratch at 64 px for {epochs} epochs -> {model_dir}")
    config = config_module.load(
        resolve_recipe("demo"), [f"data.root={lists_dir}", f"trainer.max_epochs={epochs}", *(overrides or [])]
    )
    train(config, model_dir, overwrite=True)
    log(f"4/5 evaluating on the held-out test split (95% CIs, per skin type, HTML report) -> {eval_dir}")
    run = evaluate_to_folder(model_dir, lists_dir, eval_dir, split="test", num_workers=config.data.num_workers,
                             bootstrap=1000, group_by="fitzpatrick", report=True)  # fmt: skip
    predictor = Predictor.from_checkpoint(model_dir)
    log(f"5/5 predicting the images in {data_dir / 'malignant'}")
    records = collect_images([data_dir / "malignant"])
    predictions = predict_to_csv(predictor, records, out / "predictions.csv", num_workers=config.data.num_workers).path
    paths = {
        "model": model_dir / "model.json",
        "metrics": run.files["metrics"],
        "report": run.files["report"],
        "model card": run.files["model card"],
        "predictions": predictions,
        "test preds": run.files["predictions"],
        "logs": model_dir / "logs",
    }
    return DemoResult(run.evaluation.metrics, paths)
