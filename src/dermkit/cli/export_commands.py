"""Export commands: ``export`` (ONNX, optionally int8) and ``bench`` (eager PyTorch vs ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import typer

from dermkit.cli.app import READER_OPTIONS_HELP, app, console
from dermkit.errors import ConfigError
from dermkit.fileio import check_output
from dermkit.progress import track

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)


def _check_export_options(
    format: str, quantize: str | None, calibration: Path | None, options: list[str] | None, data: Path | None
) -> None:
    """One-line errors for options that do not go together, before anything is loaded."""
    if format not in FORMATS:
        raise ConfigError(f"unknown --format '{format}'; choose one of: {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"unknown --quantize '{quantize}'; choose one of: {', '.join(QUANTIZATIONS)}")
    if calibration is not None and quantize is None:
        raise ConfigError("--calibration calibrates --quantize int8; add --quantize int8")
    if options and data is None:
        raise ConfigError(f"reader options ({options[0]}...) apply to --data; none given")


def _quantize(path: Path, calibration: Path | None) -> Path:
    """Write the int8 copy of the exported ``path``, say how it went, and return its path."""
    from dermkit.inference.quantize import quantize_onnx

    q = quantize_onnx(path, calibration=calibration)
    how = f"static, {q.calibration_images} calibration images" if q.mode == "static" else "dynamic"
    console.print(
        f"int8 ({how}): {q.path} ({q.size / 1e6:.2f} MB, {q.source_size / q.size:.1f}x smaller), "
        f"max |p_int8 - p_fp32| = {q.max_abs_diff:.3g} on sample inputs"
    )
    if q.mode == "dynamic":
        console.print(
            "note: dynamic int8 runs convolutions as ConvInteger, often slower than fp32 on CPU; "
            "--calibration DIR quantises statically (smaller and faster)"
        )
    return q.path


@app.command()
def export(
    model: Path = typer.Argument(..., help="Run folder or model.json."),
    options: list[str] | None = typer.Argument(None, help=READER_OPTIONS_HELP + " (for --data)", show_default=False),
    format: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    out: Path = typer.Option(Path("model.onnx"), "--out", "-o", help="The .onnx file to write."),
    opset: int = typer.Option(17, min=7, help="ONNX opset."),
    quantize: str | None = typer.Option(None, help="Also write an int8 copy (<out>.int8.onnx): int8."),
    calibration: Path | None = typer.Option(
        None, help="Images for static int8 quantisation (faster on CPU); without it the quantisation is dynamic."
    ),
    data: Path | None = typer.Option(
        None, help="Labelled data: print the accuracy change (PyTorch -> ONNX, or fp32 -> int8 with --quantize)."
    ),
    split: str = typer.Option("auto", help="Split of --data: auto (test, else val, else all), train, val, test, all."),
    verify_images: list[Path] | None = typer.Option(
        None, help="Image files to verify the export on (default: random inputs); repeat the option for several."
    ),
    batch_size: int = typer.Option(32, min=1, help="Images per forward pass (with --data)."),
    num_workers: int = typer.Option(2, min=0, help="Decoding workers (with --data)."),
) -> None:
    """Export a model to ONNX (its model.json in the file's metadata) and verify ONNX Runtime against PyTorch."""
    _check_export_options(format, quantize, calibration, options, data)
    from dermkit.inference.onnx_export import export_onnx

    check_output(out, "file")  # before the model is loaded and traced
    report = export_onnx(model, out, opset=opset, verify_images=verify_images or None)
    console.print(
        f"exported {model} -> {report.path} (opset {report.opset}, {report.size / 1e6:.2f} MB, outputs: "
        f"{', '.join(report.outputs)})"
    )
    console.print(
        f"verified: max |p_onnx - p_torch| = {report.max_abs_diff:.3g} (raw outputs: {report.raw_diff:.3g} relative) "
        f"on {report.verified_on} (batches "
        f"{', '.join(map(str, report.batches))}); ONNX Runtime agrees with PyTorch"
    )
    reference, candidate, names = model, report.path, ("pytorch", "onnx")
    if quantize:
        reference, candidate, names = report.path, _quantize(report.path, calibration), ("fp32", "int8")
    if data is not None:
        from dermkit.evaluation.runtimes import accuracy_change

        change = accuracy_change(
            reference,
            candidate,
            data,
            data_options=options or (),
            split=split,
            batch_size=batch_size,
            num_workers=num_workers,
            progress=track,
        )
        console.print(
            f"accuracy on {change.description}: {names[0]} {change.reference:.4f} -> {names[1]} "
            f"{change.candidate:.4f} ({change.change:+.4f})"
        )


@app.command()
def bench(
    models: list[Path] = typer.Argument(..., help="Run folders or exported .onnx files."),
    iterations: int = typer.Option(20, min=1, help="Timed batch-1 calls per runtime (a tenth as many at --batch)."),
    batch: int = typer.Option(32, min=1, help="Batch size of the throughput measurement."),
    int8: str = typer.Option(
        "static", help="int8 quantisation: static (random calibration unless --calibration) or dynamic."
    ),
    calibration: Path | None = typer.Option(None, help="Images for static int8 calibration."),
    threads: int | None = typer.Option(
        None, min=1, help="Intra-op threads of every runtime (default: one per core; 1 is steadier on a busy machine)."
    ),
) -> None:
    """CPU latency (batch 1) and throughput of models in eager PyTorch and ONNX Runtime fp32 / int8, side by side."""
    import os

    from dermkit.inference.bench import bench_models, format_bench

    rows = bench_models(models, iterations=iterations, batch=batch, int8=int8, calibration=calibration, threads=threads)
    typer.echo(format_bench(rows))  # the answer asked for: printed even with --quiet
    console.print(
        f"{os.cpu_count()} CPU cores, {threads or os.cpu_count()} threads per runtime; {iterations} batch-1 calls "
        f"and {max(1, iterations // 10)} batch-{batch} calls per runtime, interleaved, after warm-up"
    )
