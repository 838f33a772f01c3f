"""What a model folder is, read from ``model.json`` and the safetensors header alone (no weights are loaded).

:func:`describe_model` gathers it as plain JSON types (``dermkit info --json``); :func:`format_model_info` renders it
as text (``dermkit info``): task, architecture and size, classes, preprocessing, decision rule, validation metrics,
training data, version and creation date, plus any field a newer writer added, printed generically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from dermkit.errors import ModelFileError
from dermkit.metrics.weighted import headline_names
from dermkit.models.spec import WEIGHTS_FILE, ModelSpec, read_spec, resolve_model_dir

#: State-dict entries that are buffers, not parameters (BatchNorm running statistics): left out of the count.
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
_KNOWN = set(ModelSpec.model_fields)


def weights_summary(path: str | Path) -> dict[str, Any]:
    """Size of a ``model.safetensors`` file from its header: shapes and dtypes only, no tensor is read.

    Returns:
        ``{"file", "bytes", "tensors", "parameters", "dtypes": {dtype: tensors}}``; ``parameters`` counts the values
        of every tensor except BatchNorm running statistics (:data:`BUFFER_SUFFIXES`).

    Raises:
        ModelFileError: the file is missing or its header is not safetensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: weights file missing beside model.json")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            shapes = {name: handle.get_slice(name) for name in handle.keys()}  # noqa: SIM118 (not a dict)
            parameters, dtypes = 0, {}
            for name, tensor in shapes.items():
                dtypes[tensor.get_dtype()] = dtypes.get(tensor.get_dtype(), 0) + 1
                if not name.endswith(BUFFER_SUFFIXES):
                    parameters += math.prod(tensor.get_shape())
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot read weights ({str(exc).splitlines()[0]})") from None
    return {"file": str(path), "bytes": path.stat().st_size, "tensors": len(shapes), "parameters": parameters,
            "dtypes": dtypes}  # fmt: skip


def describe_model(path: str | Path) -> dict[str, Any]:
    """``{"path": model folder, "model": model.json as validated, "weights": weights_summary(...)}``.

    ``"model"`` round-trips: ``ModelSpec.model_validate(describe_model(p)["model"]) == read_spec(p)``.
    """
    spec = read_spec(path)
    directory = resolve_model_dir(path)
    return {"path": str(directory), "model": spec.model_dump(mode="json"),
            "weights": weights_summary(directory / WEIGHTS_FILE)}  # fmt: skip


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)


def _parts(mapping: dict[str, Any], prefix: str = "") -> list[str]:
    parts = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            parts += _parts(value, f"{prefix}{key}.")
        else:
            parts.append(f"{prefix}{key} {_value(value)}")
    return parts


def _pairs(mapping: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """``key value, key value`` for every entry but ``skip`` (nested mappings flattened as ``outer.inner``)."""
    return ", ".join(_parts({key: value for key, value in mapping.items() if key not in skip}))


def _size(n_bytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError  # pragma: no cover


def _decision(model: dict[str, Any]) -> str:
    decision = dict(model["decision"])
    if decision.get("threshold") is not None:
        positive = decision.get("positive_class")
        source = decision.get("threshold_source") or "source not recorded"
        rule = f"{positive} when p({positive}) >= {decision['threshold']:.6g} ({source})"
    else:
        rule = "the most probable class (argmax)"
    temperature = decision.get("temperature", 1.0)
    rule += f"; temperature {temperature:.4g}" + (" (uncalibrated)" if temperature == 1.0 else "")
    rule += f"; test-time augmentation {decision.get('tta', 'none')}"
    extra = _pairs(decision, skip=("positive_class", "threshold", "threshold_source", "temperature", "tta"))
    return rule + (f"; {extra}" if extra else "")


def _metrics(model: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, metrics in (model.get("metrics") or {}).items():
        flat = {**metrics, "macro_f1": (metrics.get("macro") or {}).get("f1")}
        shown = [f"{key} {flat[key]:.4f}" for key in headline_names(len(model["class_names"]))
                 if isinstance(flat.get(key), (int, float)) and math.isfinite(flat[key])]  # fmt: skip
        n = f"{metrics['n']} images: " if "n" in metrics else ""
        rows.append((f"{name} metrics", n + (", ".join(shown) or "none recorded")))
    return rows


def _training(model: dict[str, Any]) -> list[tuple[str, str]]:
    training, names = model.get("training") or {}, model["class_names"]
    data = dict(training.get("data") or {})
    rows = []
    if data:
        text = str(data.pop("source", "unknown source"))
        text += f" (root {data.pop('root')})" if data.get("root") else ""
        for split in ("train", "val", "test"):
            counts = data.pop(split, None)
            if isinstance(counts, list) and len(counts) == len(names):
                per_class = ", ".join(f"{c} {n}" for c, n in zip(names, counts, strict=True))
                text += f"; {split} {sum(counts)} ({per_class})"
        rows.append(("training data", text + (f"; {_pairs(data)}" if data else "")))
    run = {key: value for key, value in training.items() if key not in ("data", "config")}
    if run:
        rows.append(("training", _pairs(run)))
    return rows


def format_model_info(info: dict[str, Any]) -> list[str]:
    """The text of ``dermkit info``: one ``field  value`` line per field of :func:`describe_model`'s result."""
    model, weights = info["model"], info["weights"]
    arch = model["architecture"]
    dtypes = ", ".join(dtype.lower() for dtype in weights["dtypes"])
    rows = [
        ("model", f"{info['path']} ({model['format']} format {model['format_version']})"),
        ("task", f"{model['task']}, {model['output']} output"),
        ("architecture", f"{arch['name']}, {arch['head']} head, {arch['num_outputs']} outputs ("
                         f"{_pairs(arch, skip=('name', 'head', 'num_outputs'))})"),
        ("size", f"{weights['parameters']:,} parameters, {_size(weights['bytes'])} ({WEIGHTS_FILE}, "
                 f"{weights['tensors']} tensors, {dtypes})"),
        ("classes", f"{len(model['class_names'])}: {', '.join(model['class_names'])}"),
        ("preprocessing", _pairs(model["preprocessing"])),
        ("decision", _decision(model)),
        *_metrics(model),
        *_training(model),
        ("created", f"{model['created']} by dermkit {model['dermkit_version']}"),
    ]  # fmt: skip
    rows += [(key, _pairs(value) if isinstance(value, dict) else _value(value))
             for key, value in model.items() if key not in _KNOWN]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]
