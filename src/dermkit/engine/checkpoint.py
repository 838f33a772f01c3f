"""Lightning checkpoints written atomically, and the trained weights taken out of them without unpickling."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from dermkit.errors import ModelFileError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to a temporary file, then rename: an interrupted save never corrupts ``best.ckpt``/``last.ckpt``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


def load_task_state(
    checkpoint: str | Path, prefix: str = "task.model."
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The model's ``state_dict`` from a Lightning checkpoint (loaded with ``weights_only=True``) and the
    checkpoint's ``epoch`` and ``global_step``."""
    try:
        data = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable or unsafe files
        raise ModelFileError(f"{checkpoint}: cannot read checkpoint ({str(exc).splitlines()[0]})") from None
    state = data.get("state_dict", {})
    weights = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    if not weights:
        raise ModelFileError(f"{checkpoint}: holds no weights under '{prefix}'")
    return weights, {key: data.get(key) for key in ("epoch", "global_step")}
