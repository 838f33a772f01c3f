"""``dermkit info``: what a model folder is, without loading its weights."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dermkit.cli.app import app


@app.command()
def info(
    model: Path = typer.Argument(..., help="Run folder, model.json or model.safetensors."),
    as_json: bool = typer.Option(False, "--json", help="Print the same as JSON (model.json as stored, plus sizes)."),
) -> None:
    """Describe a model: task, architecture and size, classes, preprocessing, decision rule, metrics, training data."""
    from dermkit.models.info import describe_model, format_model_info

    described = describe_model(model)
    # the answer the user asked for: printed even with --quiet, like --version
    typer.echo(json.dumps(described, indent=2) if as_json else "\n".join(format_model_info(described)))
