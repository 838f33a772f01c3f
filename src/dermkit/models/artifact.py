"""The self-describing model artefact: ``model.safetensors`` (weights) + ``model.json`` (everything else).

``model.json`` holds the architecture, class names, evaluation preprocessing, task, output activation, decision rule
(threshold, temperature), validation metrics and the dermkit version, so ``evaluate``, ``predict``, ``serve`` and
``export`` need nothing but the model folder. Loading reads JSON and safetensors only: nothing is unpickled.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from dermkit import __version__
from dermkit.errors import ModelFileError
from dermkit.fileio import write_bytes, write_json
from dermkit.models.factory import create_model

FORMAT = "dermkit-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
SPEC_FILE = "model.json"


class Architecture(BaseModel):
    """What :func:`dermkit.models.create_model` needs to rebuild the network (never pretrained: weights follow)."""

    model_config = ConfigDict(extra="allow")

    name: str
    num_outputs: int
    head: str = "linear"
    head_hidden: int = 256
    drop_rate: float = 0.0
    stem: str = "default"
    kwargs: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    """How probabilities become a predicted class.

    Attributes:
        positive_class: for two classes, the class the threshold applies to.
        threshold: predict ``positive_class`` when its probability >= threshold (binary only; None = argmax).
        threshold_source: why this threshold (``default``, ``recall>=0.999 on val``...), shown by predict.
        temperature: logits are divided by this before the softmax/sigmoid (1 = uncalibrated).
        tta: test-time augmentation the threshold was chosen with (``none``, ``flips``, ``d4``); prediction uses
            it unless told otherwise, so the chosen recall holds for the probabilities it is applied to.
    """

    model_config = ConfigDict(extra="allow")

    positive_class: str | None = None
    threshold: float | None = None
    threshold_source: str | None = None
    temperature: float = 1.0
    tta: Literal["none", "flips", "d4"] = "none"


class ModelSpec(BaseModel):
    """The contents of ``model.json``."""

    model_config = ConfigDict(extra="allow")

    format: Literal["dermkit-model"] = FORMAT
    format_version: int = FORMAT_VERSION
    dermkit_version: str = __version__
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    task: str = "classify"
    output: Literal["softmax", "sigmoid"] = "softmax"
    architecture: Architecture
    class_names: list[str]
    preprocessing: dict[str, Any]
    decision: Decision = Field(default_factory=Decision)
    metrics: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)


def resolve_model_dir(path: str | Path) -> Path:
    """The folder holding ``model.json``: ``path`` itself, or the folder of a given ``model.json``/weights file."""
    candidate = Path(path).expanduser()
    if candidate.is_file() and candidate.name in (SPEC_FILE, WEIGHTS_FILE):
        if not (candidate.parent / SPEC_FILE).is_file():
            raise ModelFileError(f"{candidate}: no {SPEC_FILE} beside it (a dermkit model needs both files)")
        return candidate.parent
    if candidate.is_dir() and (candidate / SPEC_FILE).is_file():
        return candidate
    if not candidate.exists():
        raise ModelFileError(f"{candidate}: no such model file or folder")
    raise ModelFileError(
        f"{candidate}: not a dermkit model (expected a run folder or model.json beside {WEIGHTS_FILE}; "
        "make one with `dermkit train`)"
    )


def read_spec(path: str | Path) -> ModelSpec:
    """Read and validate ``model.json`` from a model folder or file."""
    spec_path = resolve_model_dir(path) / SPEC_FILE
    try:
        data = json.loads(spec_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{spec_path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelFileError(f"{spec_path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFileError(f'{spec_path}: not a dermkit model description (missing "format": "{FORMAT}")')
    version = data.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{spec_path}: invalid 'format_version': expected an integer (got {version!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{spec_path}: written by a newer dermkit (format {data['format_version']}); upgrade")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ModelFileError(f"{spec_path}: invalid '{where}': {first['msg']}") from None


def write_spec(directory: str | Path, spec: ModelSpec) -> Path:
    """Atomically (re)write ``model.json`` (e.g. after choosing a threshold or fitting a temperature)."""
    return write_json(Path(directory) / SPEC_FILE, spec.model_dump(mode="json"))


def save_model(directory: str | Path, model: torch.nn.Module, spec: ModelSpec) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into ``directory`` (each atomically); return the folder."""
    directory = Path(directory)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    write_bytes(directory / WEIGHTS_FILE, save_safetensors(state, metadata={"format": FORMAT}))
    write_spec(directory, spec)
    return directory


def load_model(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelSpec]:
    """Rebuild a saved model in eval mode from its folder (or its ``model.json``).

    Returns:
        The model with its weights loaded, and its spec.
    """
    spec = read_spec(path)
    directory = resolve_model_dir(path)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path}: weights file missing beside {SPEC_FILE}")
    try:
        state = load_safetensors(weights_path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{weights_path}: cannot read weights ({str(exc).splitlines()[0]})") from None
    arch = spec.architecture
    extra = {key: value for key, value in (arch.model_extra or {}).items()}
    model = create_model(
        arch.name,
        arch.num_outputs,
        head=arch.head,
        head_hidden=arch.head_hidden,
        drop_rate=arch.drop_rate,
        stem=arch.stem,
        **extra,
        **arch.kwargs,
    )
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or wrong:
        problems = [
            f"{len(items)} {what} (e.g. {items[0]})"
            for what, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", wrong))
            if items
        ]
        raise ModelFileError(f"{weights_path}: weights do not match {arch.name}: tensors {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)
    return model.to(map_location).eval(), spec
