"""``model.json``: the description of a model (task, architecture, classes, preprocessing, decision rule, metrics).

Readable without torch or timm: the ONNX Runtime predictor, ``dermkit info`` and the server read it with pydantic
alone. The weights and their loading live in :mod:`dermkit.models.artifact`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from dermkit import __version__
from dermkit.errors import ModelFileError
from dermkit.fileio import write_json

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
    heads: dict[str, int] | None = None
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

    Frozen: a changed rule is a new object (``decision.model_copy(update=...)``), so a predictor that explains or
    serves never sees a threshold another caller is trying out.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

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
    task_options: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=lambda: ["logits"])
    output: Literal["softmax", "sigmoid"] = "softmax"
    architecture: Architecture
    class_names: list[str]
    preprocessing: dict[str, Any]
    decision: Decision = Field(default_factory=Decision)
    metrics: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    _directory: Path | None = PrivateAttr(default=None)

    @property
    def directory(self) -> Path | None:
        """The model folder this spec was read from (:func:`read_spec`), where a task finds files named in its
        ``task_options`` (SPBL's SVM arrays); None for a spec built in memory. Not written to ``model.json``."""
        return self._directory

    def __eq__(self, other: object) -> bool:
        """Equal when the contents are (where a spec was read from does not count)."""
        if not isinstance(other, ModelSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__ and self.__pydantic_extra__ == other.__pydantic_extra__


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
    spec = parse_spec(data, spec_path)
    spec._directory = spec_path.parent
    return spec


def parse_spec(data: object, where: str | Path) -> ModelSpec:
    """Validate ``model.json``'s content (from a file, or an ONNX model's metadata); errors name ``where``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFileError(f'{where}: not a dermkit model description (missing "format": "{FORMAT}")')
    version = data.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{where}: invalid 'format_version': expected an integer (got {version!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{where}: written by a newer dermkit (format {data['format_version']}); upgrade")
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise ModelFileError(f"{where}: invalid '{loc}': {first['msg']}") from None
    return spec


def write_spec(directory: str | Path, spec: ModelSpec) -> Path:
    """Atomically (re)write ``model.json`` (e.g. after choosing a threshold or fitting a temperature)."""
    return write_json(Path(directory) / SPEC_FILE, spec.model_dump(mode="json"))
