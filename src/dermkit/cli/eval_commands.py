"""Evaluation commands: ``evaluate``, ``calibrate``, ``compare`` and ``predict``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dermkit.cli.app import READER_OPTIONS_HELP, app, console
from dermkit.cli.eval_summary import evaluation_lines
from dermkit.config import reader_options, split_reader_overrides
from dermkit.data.inputs import collect_images
from dermkit.errors import ConfigError, DataError, NothingReadableError
from dermkit.fileio import check_output
from dermkit.inference.shards import Shard, detect_shard, parse_shard
from dermkit.progress import track
from dermkit.tasks.spbl import choose_head

HEAD_HELP = "SPBL models: predict with the svm, the cnn or both (mean); default: the head that won on validation."

if TYPE_CHECKING:
    from dermkit.data.records import Record
    from dermkit.inference.outputs import PredictSummary
    from dermkit.inference.predictor import Predictor
    from dermkit.inference.sharded import MergeSummary


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="Run folder, model.json or an exported .onnx file."),
    data: Path = typer.Argument(..., help="Labelled dataset (any supported layout)."),
    options: list[str] | None = typer.Argument(
        None,
        help=READER_OPTIONS_HELP,
        show_default=False,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for metrics.json, predictions.csv, report.html."),
    split: str = typer.Option("auto", help="auto (test, else val, else all), train, val, test or all."),
    choose_threshold: str | None = typer.Option(
        None, help="Binary: recall=0.999, sensitivity=0.99, youden or threshold=0.3, chosen on this data."
    ),
    save: bool = typer.Option(False, help="Store the chosen threshold in model.json (predict and serve use it)."),
    bootstrap: int = typer.Option(0, min=0, help="Resamples for 95% confidence intervals (e.g. 1000)."),
    tta: str | None = typer.Option(
        None, help="Test-time augmentation: none, flips (4 views) or d4 (8 views); default: the model's stored mode."
    ),
    group_by: str | None = typer.Option(None, help="Manifest column for per-subgroup metrics (e.g. fitzpatrick)."),
    class_map: str | None = typer.Option(None, help="Rename data classes: melanoma=malignant,nevus=benign."),
    report: bool = typer.Option(False, help="Also write report.html and the model's MODEL_CARD.md."),
    audit: bool = typer.Option(False, help="Audit the whole dataset (duplicates, leakage) into audit.json + report."),
    batch_size: int = typer.Option(32, min=1, help="Images per forward pass."),
    num_workers: int = typer.Option(2, min=0, help="Decoding processes."),
    seed: int = typer.Option(0, min=0, help="Bootstrap seed."),
    head: str | None = typer.Option(None, help=HEAD_HELP),
    shard: str | None = typer.Option(
        None, help="K/N: predict share K (0..N-1) of N into OUT; default: the rank under torchrun/srun (rank 0 merges)."
    ),
    merge: bool = typer.Option(False, help="Evaluate the predictions of the finished --shard runs in OUT."),
) -> None:
    """Evaluate a model on labelled data: metrics.json, predictions.csv and a readable summary."""
    from dermkit.evaluation.pipeline import evaluate_to_folder

    chosen = parse_shard(shard) if shard else detect_shard()
    kwargs = dict(split=split, batch_size=batch_size, num_workers=num_workers, tta=tta, bootstrap=bootstrap,
                  group_by=group_by, class_map=class_map, choose_threshold=choose_threshold, save=save, report=report,
                  audit=audit, seed=seed, data_options=options or (), progress=track, head=head)  # fmt: skip
    if merge or chosen.count > 1:
        from dermkit.evaluation.sharded import evaluate_sharded  # torch-free too: the ONNX predictor shards

        run = evaluate_sharded(model, data, out, chosen, merge=merge, **kwargs)
        if run is None:  # this shard's part is written; rank 0 (or --merge) evaluates
            if chosen.launcher is None:
                console.print(f"{chosen.label}: predictions in {out}; when every shard has finished: dermkit "
                              f"evaluate {model} {data} --out {out} --merge")  # fmt: skip
            return
    else:
        run = evaluate_to_folder(model, data, out, **kwargs)
    for line in evaluation_lines(run, data, chose_threshold=bool(choose_threshold)):
        console.print(line)


@app.command()
def calibrate(
    model: Path = typer.Argument(..., help="Run folder or model.json."),
    data: Path = typer.Argument(..., help="Held-out labelled data (its val split is used when it has one)."),
    options: list[str] | None = typer.Argument(
        None,
        help=READER_OPTIONS_HELP,
        show_default=False,
    ),
    split: str = typer.Option("auto", help="auto (val), val, test, train or all."),
    class_map: str | None = typer.Option(None, help="Rename data classes: melanoma=malignant,nevus=benign."),
    dry_run: bool = typer.Option(False, help="Fit and report, but do not store the temperature."),
    batch_size: int = typer.Option(32, min=1, help="Images per forward pass."),
    num_workers: int = typer.Option(2, min=0, help="Decoding processes."),
) -> None:
    """Fit temperature scaling on validation data and store it in model.json (applied at prediction)."""
    from dermkit.evaluation.pipeline import calibrate_model

    run = calibrate_model(model, data, split=split, batch_size=batch_size, num_workers=num_workers,
                          class_map=class_map, save=not dry_run, data_options=options or (),
                          progress=track)  # fmt: skip
    result = run.result
    console.print(f"temperature scaling on {data}: {run.description}")
    console.print(f"temperature  {result.temperature:.4f}")
    console.print(f"NLL          {result.nll_before:.4f} -> {result.nll_after:.4f}")
    console.print(f"ECE (15 bins) {result.ece_before:.4f} -> {result.ece_after:.4f}")
    if run.threshold_before is not None and run.threshold_after != run.threshold_before:
        same = " (same decisions)" if run.same_decisions else ""
        console.print(f"threshold    {run.threshold_before:.6g} -> {run.threshold_after:.6g}{same}")
    for warning in run.warnings:
        console.print(f"warning: {warning}")
    console.print("not saved (--dry-run)" if dry_run else f"saved to {model} model.json; predict/evaluate apply it")


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Run, evaluation or cv folders, or metrics.json files."),
    metrics: str | None = typer.Option(None, help="Comma-separated metrics to show (default: all headline ones)."),
) -> None:
    """Print the headline metrics of several runs side by side."""
    from dermkit.reports.compare import format_comparison, load_run_metrics, parse_metric_names

    names = parse_metric_names(metrics)
    typer.echo(format_comparison([load_run_metrics(path) for path in runs], names))  # the answer: shown with --quiet


def _predict_shards(
    predictor: Predictor,
    records: list[Record],
    out: Path,
    shard: Shard,
    batch_size: int,
    num_workers: int,
    resume: bool,
) -> None:
    """One shard of a sharded predict (see :mod:`dermkit.inference.sharded`); rank 0 of a launched job merges."""
    from dermkit.inference.sharded import predict_sharded

    run = predict_sharded(predictor, records, out, shard, batch_size=batch_size, num_workers=num_workers,
                          progress=track, resume=resume)  # fmt: skip
    if run.merged is not None:
        _merged_lines(run.merged)
    elif shard.launcher is None:
        console.print(f"{shard.label}: {run.part.path}; when every shard has finished: dermkit predict --merge {out}")


def _predict_lines(predictor: Predictor, summary: PredictSummary) -> None:
    """What a finished predict prints: the decision rule in use, how many rows, the first errors; exit status 1
    when not one image was readable."""
    decision = predictor.spec.decision
    if predictor.threshold is not None:
        source = f" ({decision.threshold_source})" if decision.threshold_source else ""
        console.print(f"decision: {decision.positive_class} when p >= {predictor.threshold:g}{source}")
    if decision.temperature != 1.0:
        console.print(f"calibrated: logits / {decision.temperature:.4g} (temperature scaling)")
    if predictor.tta:
        console.print(f"test-time augmentation: {predictor.tta} (probabilities averaged over its views)")
    if summary.resumed:
        console.print(f"resumed: kept {summary.resumed} rows of the interrupted run")
    console.print(f"predicted {summary.total - len(summary.errors)} of {summary.total} images -> {summary.path}")
    for error in summary.errors[:5]:
        console.print(f"  unreadable: {error}")
    if len(summary.errors) > 5:
        console.print(f"  ... {len(summary.errors) - 5} more (see the error column)")
    if len(summary.errors) == summary.total:  # a CSV of errors only: exit status 1 lets scripts notice
        raise NothingReadableError(f"none of the {summary.total} images could be read (first: {summary.errors[0]}); "
                                   f"each error is in {summary.path}")  # fmt: skip


def _merged_lines(merged: MergeSummary) -> None:
    """The final count of a merged predict; exit status 1 when not one row was predicted."""
    console.print(f"merged {merged.parts} parts: {merged.rows} rows, {merged.rows - merged.errors} predicted, "
                  f"{merged.errors} unreadable -> {merged.path}")  # fmt: skip
    if merged.rows and merged.errors == merged.rows:
        raise NothingReadableError(f"none of the {merged.rows} images could be read; each error is in {merged.path}")


@app.command()
def predict(
    model: Path | None = typer.Argument(
        None, help="Run folder, model.json or an exported .onnx file.", show_default=False
    ),
    inputs: list[Path] | None = typer.Argument(None, help="Image files, folders or CSV manifests.", show_default=False),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="CSV to write."),
    tta: str | None = typer.Option(None, help="Test-time augmentation: none, flips or d4; default: the model's mode."),
    batch_size: int = typer.Option(32, min=1, help="Images per forward pass."),
    num_workers: int = typer.Option(2, min=0, help="Decoding processes."),
    head: str | None = typer.Option(None, help=HEAD_HELP),
    shard: str | None = typer.Option(
        None, help="K/N: predict share K (0..N-1) of N into OUT.part-K-of-N; default: the rank under torchrun/srun."
    ),
    merge: Path | None = typer.Option(
        None, help="Join the finished parts CSV.part-K-of-N into this CSV, in input order (after --shard runs)."
    ),
    resume: bool = typer.Option(
        False, help="Continue an interrupted run: keep the rows already in OUT (.partial) and predict only the rest."
    ),
) -> None:
    """Predict images; one CSV row per input, in order, with an error column for unreadable files.

    Rows are written batch by batch to OUT.partial, renamed to OUT when all are done.
    """
    from dermkit.inference.outputs import predict_to_csv
    from dermkit.inference.runtime import load_predictor  # an .onnx model loads without torch

    if merge is not None:
        if model is not None or inputs:
            raise ConfigError("--merge takes the merged CSV only: dermkit predict --merge predictions.csv")
        from dermkit.inference.sharded import merge_parts

        return _merged_lines(merge_parts(merge))
    if model is None or not inputs:
        raise ConfigError("predict needs a MODEL and at least one input (or --merge CSV to join a sharded predict)")
    chosen = parse_shard(shard) if shard else detect_shard()
    check_output(chosen.part_path(out) if chosen.count > 1 else out, "file")
    paths, overrides = split_reader_overrides(str(item) for item in inputs)
    options = reader_options(None, overrides)
    if set(options) - {"path_column"}:
        raise ConfigError("predict takes one reader option, data.path_column=NAME (the image column of a CSV)")
    predictor = load_predictor(model, tta=tta)
    if head is not None:
        choose_head(predictor.spec, head)
    records = collect_images(paths, options.get("path_column"))
    if not records:
        raise DataError(f"no images found in {', '.join(map(str, paths))}")
    if chosen.count > 1:
        return _predict_shards(predictor, records, out, chosen, batch_size, num_workers, resume)
    with track(len(records), "predicting", "images") as step:
        summary = predict_to_csv(
            predictor, records, out, batch_size=batch_size, num_workers=num_workers, progress=step, resume=resume
        )
    _predict_lines(predictor, summary)
