"""Deployment commands: ``explain`` (Grad-CAM files) and ``serve`` (REST API + web page)."""

from __future__ import annotations

from pathlib import Path

import typer

from dermkit.cli.app import app, console
from dermkit.data.inputs import collect_images
from dermkit.errors import DataError
from dermkit.fileio import check_output

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def explain(
    model: Path = typer.Argument(..., help="Run folder or model.json (the PyTorch model)."),
    images: list[Path] = typer.Argument(..., help="Image files, folders or CSV manifests."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <image>_<method>.png overlays and .npy maps."),
    class_name: str | None = typer.Option(None, "--class", help="Class to explain (default: each predicted class)."),
    method: str = typer.Option("gradcam", help="gradcam or gradcam++."),
    layer: str | None = typer.Option(None, help="Target layer in the backbone (default: its last conv stage)."),
) -> None:
    """Grad-CAM heat maps drawn on the original images: an overlay PNG and the raw map (.npy) per image."""
    from dermkit.inference.explain import Explainer
    from dermkit.inference.explain_folder import explain_to_folder

    check_output(out, "folder")  # before the model is loaded
    paths = [record.path for record in collect_images(images)]
    if not paths:
        raise DataError(f"no images found in {', '.join(map(str, images))}")
    explainer = Explainer.from_checkpoint(model, method=method, layer=layer)
    summary = explain_to_folder(explainer, paths, out, class_name=class_name, log=console.print)
    done = f"explained {len(summary.written)} of {len(paths)} images"
    console.print(f"{done} ({method}, layer {explainer.layer}) -> {out}")
    if not summary.written:
        raise typer.Exit(1)


@app.command()
def serve(
    model: Path = typer.Argument(..., help="Run folder, model.json or an exported .onnx file (then /explain is off)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 exposes the server to the network."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    token: str | None = typer.Option(
        None, envvar="DERMKIT_TOKEN", help="Require 'Authorization: Bearer TOKEN' (or set DERMKIT_TOKEN)."
    ),
    max_upload_mb: float = typer.Option(20.0, min=0.001, help="Largest request body accepted, in MB."),
    max_concurrency: int = typer.Option(2, min=1, help="Images predicted or explained at the same time."),
    layer: str | None = typer.Option(None, help="Grad-CAM target layer (default: the last conv stage)."),
) -> None:
    """Serve a model: REST API (/predict, /explain, /model, /health, /docs) and a web page at /."""
    import uvicorn

    from dermkit.inference.runtime import is_onnx, load_predictor  # an .onnx model serves without torch
    from dermkit.models.spec import resolve_model_dir
    from dermkit.serve import create_app

    predictor = load_predictor(model)
    limits = {"max_upload_mb": max_upload_mb, "max_concurrency": max_concurrency}
    folder = None if is_onnx(model) else resolve_model_dir(model)
    web = create_app(predictor, token=token, model_dir=folder, layer=layer, **limits)
    if host not in LOOPBACK and not token:
        console.print(f"warning: serving on {host} without a token: anyone who reaches it can use the model")
    guard = ", token required" if token else ""
    console.print(f"serving {model} on http://{host}:{port}/ (API docs at /docs){guard}")
    uvicorn.run(web, host=host, port=port, log_level="info", server_header=False)
