"""Training commands: ``train``, ``demo`` and ``cv``."""

from __future__ import annotations

from pathlib import Path

import typer

from dermkit import config as config_module
from dermkit.cli.app import app, console, cv_table, quiet_lightning
from dermkit.fileio import check_output
from dermkit.progress import shows_bars, track
from dermkit.recipes import resolve_recipe
from dermkit.reports.summary import format_summary
from dermkit.tasks import get_task

# torch, timm and lightning load inside the commands that need them, so `dermkit --help` and `synth` start fast.


def _bar_overrides() -> list[str]:
    """Lightning's bar only on a terminal (and not with --quiet); the user's own overrides come after and win."""
    return [] if shows_bars() else ["trainer.progress_bar=false"]


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
    from dermkit.engine.epoch_progress import EpochProgress
    from dermkit.engine.train import train as run_training  # heavy import (lightning), only when training
    from dermkit.inference.shards import process_label

    quiet_lightning()
    run_config = config_module.load(resolve_recipe(config), [*_bar_overrides(), *(overrides or [])])
    out_dir = out or Path("runs") / (run_config.name or "run")
    check_output(out_dir, "folder")  # before the data is read and the model built
    console.print(f"training {run_config.model.name} ({run_config.task_name}) on {run_config.data.root} -> {out_dir}")
    if run_config.trainer.progress_bar:
        result = run_training(run_config, out_dir, resume=resume, strict=strict, overwrite=overwrite)
    else:  # no Lightning bar: epochs as a few plain lines instead (nothing with --quiet)
        label = process_label()  # each rank of a multi-process run shows its own epochs
        description = f"training ({label})" if label else "training"
        with track(run_config.trainer.max_epochs, description, "epochs", live=False) as epochs:
            result = run_training(run_config, out_dir, resume=resume, strict=strict, overwrite=overwrite,
                                  callbacks=[EpochProgress(epochs)])  # fmt: skip
    if not result.primary:  # another DDP process: rank 0 reports
        return
    console.print(f"validation (best epoch {result.best_epoch})")
    console.print(get_task(run_config.task_name).summary(result.val_metrics))
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} unreadable images: {out_dir / 'skipped_images.txt'}")
    if result.nonfinite_skipped:
        console.print(f"skipped {result.nonfinite_skipped} training batches with a NaN/inf loss (skip_nonfinite)")
    console.print(f"model:       {out_dir / 'model.json'} (+ model.safetensors)")
    found = (path for path in (result.best_checkpoint, out_dir / "last.ckpt") if path.suffix == ".ckpt")
    checkpoints = [str(path) for path in found if path.exists()]
    if checkpoints:  # SPBL keeps its rounds' weights in round_<k>/, not as checkpoints
        console.print(f"checkpoints: {', '.join(checkpoints)}")
    logs = out_dir / "logs" if (out_dir / "logs").is_dir() else out_dir / "round_*" / "logs"  # SPBL: one per round
    console.print(f"logs:        {logs} (metrics.csv, TensorBoard)")
    console.print(f"next:        dermkit evaluate {out_dir} DATA --out {out_dir / 'eval'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the demo's data, model and results."),
    epochs: int = typer.Option(8, min=1, help="Training epochs."),
) -> None:
    """Synthesise a dataset, train a small model on CPU, evaluate it and predict: the whole flow in minutes."""
    from dermkit.engine.demo import run_demo

    check_output(out, "folder")
    quiet_lightning()
    result = run_demo(out, epochs=epochs, log=console.print, overrides=_bar_overrides())
    console.print("test split")
    console.print(format_summary(result.test_metrics))
    for what, path in result.paths.items():
        console.print(f"{what + ':':13s}{path}")


@app.command()
def cv(
    config: str = typer.Argument(..., help="A YAML recipe (path) or the name of a bundled one."),
    overrides: list[str] | None = typer.Argument(None, help="Dotted overrides: data.root=PATH ..."),
    folds: int = typer.Option(5, min=2, help="k of stratified (patient-grouped when possible) k-fold."),
    repeats: int = typer.Option(0, min=0, help="Instead of k folds: this many random stratified train/test splits."),
    test_fraction: float = typer.Option(
        0.2, min=0.01, max=0.9, help="Test share of each random split (with --repeats)."
    ),
    folds_from_files: Path | None = typer.Option(
        None, help="Run a dataset's published folds instead (ACNE04: the folder of NNEW_trainval_k/NNEW_test_k)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder (default runs/<config name>_cv)."),
    overwrite: bool = typer.Option(False, help="Replace earlier fold runs."),
) -> None:
    """Cross-validate a recipe: one model per fold, then each metric as mean +/- std across folds."""
    from dermkit.engine.cv import cross_validate

    quiet_lightning()
    extra = [f"data.root={folds_from_files}"] if folds_from_files else []
    run_config = config_module.load(resolve_recipe(config), [*_bar_overrides(), *(overrides or []), *extra])
    out_dir = out or Path("runs") / f"{run_config.name or 'run'}_cv"
    check_output(out_dir, "folder")  # before the folds are hashed and trained
    result = cross_validate(run_config, out_dir, folds=folds, repeats=repeats, test_fraction=test_fraction,
                            folds_from_files=folds_from_files is not None, overwrite=overwrite,
                            log_fn=console.print, progress=track)  # fmt: skip
    console.print(cv_table(result))
    console.print(f"results: {out_dir / 'cv_results.csv'}, {out_dir / 'cv_results.json'}")
