"""The self-describing model artefact: ``model.safetensors`` (weights) + ``model.json`` (everything else).

``model.json`` holds the architecture, class names, evaluation preprocessing, task, output activation, decision rule
(threshold, temperature), validation metrics and the dermkit version, so ``evaluate``, ``predict``, ``serve`` and
``export`` need nothing but the model folder. Loading reads JSON and safetensors only: nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from dermkit.errors import ModelFileError
from dermkit.fileio import write_bytes
from dermkit.models.factory import create_model
from dermkit.models.spec import (
    FORMAT,
    SPEC_FILE,
    WEIGHTS_FILE,
    Architecture,
    Decision,
    ModelSpec,
    read_spec,
    resolve_model_dir,
    write_spec,
)

__all__ = [
    "Architecture",
    "Decision",
    "ModelSpec",
    "load_model",
    "read_spec",
    "resolve_model_dir",
    "save_model",
    "write_spec",
]


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
        heads=arch.heads,
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
