"""Model commands: ``train``, ``demo``, ``evaluate`` and ``predict``."""

from __future__ import annotations

from pathlib import Path

import typer

from dermkit import config as config_module
from dermkit.cli.app import app, console, quiet_lightning
from dermkit.data.inputs import collect_images
from dermkit.fileio import write_csv, write_json
from dermkit.metrics.classification import format_summary
from dermkit.recipes import resolve_recipe

# torch, timm and lightning load inside the commands that need them, so `dermkit --help` and `synth` start fast.


@app.command(context_settings={"allow_extra_args": False})
def train(
    config: str = typer.Argument(..., help="A YAML recipe (path) or the name of a bundled one (e.g. demo)."),
    overrides: list[str] | None = typer.Argument(None, help="Dotted overrides: data.root=PATH trainer.max_epochs=5"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (default runs/<config name>)."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last.ckpt."),
    strict: bool = typer.Option(False, help="Stop at the first unreadable image instead of skipping it."),
    overwrite: bool = typer.Option(False, help="Replace an earlier run in --out."),
) -> None:
    """Train a model from a recipe; writes checkpoints, logs and a self-describing model folder."""
    from dermkit.engine.train import train as run_training  # heavy import (lightning), only when training

    quiet_lightning()
    run_config = config_module.load(resolve_recipe(config), overrides or [])
    out_dir = out or Path("runs") / (run_config.name or "run")
    console.print(f"training {run_config.model.name} ({run_config.task}) on {run_config.data.root} -> {out_dir}")
    result = run_training(run_config, out_dir, resume=resume, strict=strict, overwrite=overwrite)
    console.print(f"validation (best epoch {result.best_epoch})")
    console.print(format_summary(result.val_metrics))
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} unreadable images: {out_dir / 'skipped_images.txt'}")
    console.print(f"model:       {out_dir / 'model.json'} (+ model.safetensors)")
    console.print(f"checkpoints: {result.best_checkpoint}, {out_dir / 'last.ckpt'}")
    console.print(f"logs:        {out_dir / 'logs'} (metrics.csv, TensorBoard)")
    console.print(f"next:        dermkit evaluate {out_dir} DATA --out {out_dir / 'eval'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the demo's data, model and results."),
    epochs: int = typer.Option(8, help="Training epochs."),
) -> None:
    """Synthesise a dataset, train a small model on CPU, evaluate it and predict: the whole flow in minutes."""
    from dermkit.engine.demo import run_demo

    quiet_lightning()
    result = run_demo(out, epochs=epochs, log=console.print)
    console.print("test split")
    console.print(format_summary(result.test_metrics))
    for what, path in result.paths.items():
        console.print(f"{what + ':':13s}{path}")


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="Run folder or model.json."),
    data: Path = typer.Argument(..., help="Labelled dataset (any supported layout)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for metrics.json and predictions.csv."),
    split: str = typer.Option("auto", help="auto (test, else val, else all), train, val, test or all."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    num_workers: int = typer.Option(2, help="Decoding processes."),
) -> None:
    """Evaluate a model on labelled data: metrics.json, predictions.csv and a readable summary."""
    from dermkit.data import read_dataset
    from dermkit.inference.evaluate import evaluate as evaluate_model
    from dermkit.inference.evaluate import select_split
    from dermkit.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(model)
    table, description = select_split(read_dataset(data, class_names=None), split)
    result = evaluate_model(predictor, table, batch_size=batch_size, num_workers=num_workers)
    write_json(out / "metrics.json", result.metrics)
    result.write_predictions(out / "predictions.csv")
    console.print(f"{data}: {description}")
    console.print(format_summary(result.metrics))
    if result.metrics.get("unreadable"):
        console.print(f"{result.metrics['unreadable']} unreadable images are listed in predictions.csv (error column)")
    console.print(f"metrics:     {out / 'metrics.json'}")
    console.print(f"predictions: {out / 'predictions.csv'}")


@app.command()
def predict(
    model: Path = typer.Argument(..., help="Run folder or model.json."),
    inputs: list[Path] = typer.Argument(..., help="Image files, folders or CSV manifests."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="CSV to write."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    num_workers: int = typer.Option(2, help="Decoding processes."),
) -> None:
    """Predict images; one CSV row per input, in order, with an error column for unreadable files."""
    from dermkit.inference.evaluate import prediction_rows
    from dermkit.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(model)
    records = collect_images(inputs)
    if not records:
        console.print("no images found in the given paths")
        raise typer.Exit(1)
    proba, errors = predictor.predict_records(records, batch_size=batch_size, num_workers=num_workers)
    header, rows = prediction_rows(predictor, [record.path for record in records], proba, errors)
    write_csv(out, header, rows)
    failed = sum(error is not None for error in errors)
    decision = predictor.spec.decision
    if predictor.threshold is not None:
        source = f" ({decision.threshold_source})" if decision.threshold_source else ""
        console.print(f"decision: {decision.positive_class} when p >= {predictor.threshold:g}{source}")
    console.print(f"predicted {len(records) - failed} of {len(records)} images -> {out}")
    for error in [error for error in errors if error][:5]:
        console.print(f"  unreadable: {error}")
    if failed > 5:
        console.print(f"  ... {failed - 5} more (see the error column)")
