"""The runtime install: an exported model predicts and evaluates with torch, timm and lightning unimportable.

A subprocess blocks them with a meta-path finder (as if ``pip install --no-deps dermkit`` plus the ``runtime`` extra
were all there is), runs the ONNX predictor and the CLI's predict and evaluate, and reports what it imported; the
rows must equal the PyTorch predictor's, and every package it imported must come with the ``runtime`` extra.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dermkit.data.inputs import collect_images
from dermkit.inference.onnx_export import export_onnx
from dermkit.inference.predictor import Predictor
from tests.integration._onnx_helpers import NO_TORCH, classify_model_dir, read_rows

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SCRIPT = """
import json, sys
started = set(sys.modules)
from dermkit.data.inputs import collect_images
from dermkit.inference.onnx_predictor import OnnxPredictor
records = collect_images([{images!r}])
result = OnnxPredictor.from_file({onnx!r}).predict_records(records, batch_size=3, num_workers=2)
from dermkit.cli import main
status = [main(["predict", {onnx!r}, {images!r}, "--out", "predictions.csv"]),
          main(["evaluate", {onnx!r}, {data!r}, "--out", "evaluation", "--report"])]
imported = sorted({{name.partition(".")[0] for name in set(sys.modules) - started}})
print("RESULT " + json.dumps({{"proba": result.proba.tolist(), "errors": result.errors, "status": status,
                               "imported": imported}}))
"""


@pytest.fixture(scope="module")
def torch_free(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("runtime")
    run = classify_model_dir(root / "run")
    onnx = export_onnx(run, root / "model.onnx").path
    images = root / "images"
    images.mkdir()
    for path in sorted((synth_dir / "malignant").glob("*.jpg"))[:5]:
        (images / path.name).write_bytes(path.read_bytes())
    (images / "truncated.jpg").write_bytes(path.read_bytes()[:200])
    code = NO_TORCH + textwrap.dedent(SCRIPT).format(images=str(images), onnx=str(onnx), data=str(synth_dir))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return {"root": root, "run": run, "images": images, "result": json.loads(line.removeprefix("RESULT "))}


def test_onnx_predictor_without_torch_gives_the_pytorch_rows(torch_free: dict) -> None:
    result = torch_free["result"]
    assert result["status"] == [0, 0]
    records = collect_images([torch_free["images"]])
    reference = Predictor.from_checkpoint(torch_free["run"]).predict_records(records, batch_size=3)
    assert result["errors"] == reference.errors and "truncated.jpg: " in result["errors"][-1]
    proba = np.array(result["proba"], dtype=float)
    readable = reference.readable
    assert np.abs(proba[readable] - reference.proba[readable]).max() <= 1e-4
    assert np.isnan(proba[~readable]).all()


def test_cli_predict_and_evaluate_without_torch_write_their_files(torch_free: dict) -> None:
    rows = read_rows(torch_free["root"] / "predictions.csv")
    assert [Path(row["path"]).name for row in rows][-1] == "truncated.jpg" and rows[-1]["error"]
    assert all(row["predicted"] in ("benign", "malignant") for row in rows[:-1])
    metrics = json.loads((torch_free["root"] / "evaluation" / "metrics.json").read_text())
    assert metrics["unreadable"] == 0 and 0.0 <= metrics["accuracy"] <= 1.0
    assert (torch_free["root"] / "evaluation" / "report.html").is_file()


def runtime_closure() -> set[str]:
    """The ``runtime`` extra's packages and, recursively, what they require (as installed here)."""
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["runtime"]
    todo, seen = [Requirement(item) for item in extra], set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo.extend(Requirement(item) for item in importlib.metadata.requires(name) or [])
        except importlib.metadata.PackageNotFoundError:
            continue
    return seen


def test_runtime_extra_covers_every_package_the_torch_free_run_imported(torch_free: dict) -> None:
    closure = runtime_closure()
    assert not {"torch", "torchvision", "timm", "lightning"} & closure
    owners = importlib.metadata.packages_distributions()
    imported = {canonicalize_name(dist) for name in torch_free["result"]["imported"] for dist in owners.get(name, [])}
    assert {"onnxruntime", "numpy", "pillow", "opencv-python-headless", "pydantic"} <= imported
    assert imported - {"dermkit"} <= closure, sorted(imported - {"dermkit"} - closure)
