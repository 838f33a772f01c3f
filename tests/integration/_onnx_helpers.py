"""Shared helpers of the ONNX tests: an untrained acne model folder, a torch-free Python prelude, CSV reading."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from dermkit import config
from dermkit.data.acne import GRADE_NAMES
from dermkit.data.preprocess import Preprocess
from dermkit.models.artifact import save_model
from dermkit.models.spec import Architecture, Decision, ModelSpec
from dermkit.tasks import get_task

#: Python source that makes torch and the training stack unimportable (a meta-path finder that raises ImportError).
NO_TORCH = """
import importlib.abc, sys
_BLOCKED = {"torch", "torchvision", "timm", "lightning", "pytorch_lightning", "torchmetrics"}
class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked: the runtime install has no torch)")
        return None
sys.meta_path.insert(0, _NoTorch())
"""


def acne_model_dir(out: Path, size: int = 32) -> Path:
    """A test_resnet acne_ldl model folder (two heads, random weights, batch-norm statistics moved off their
    defaults), built through the task's own ``build`` and ``spec_block`` as training would."""
    run_config = config.load(None, ["task=acne_ldl", "model.name=test_resnet", "model.pretrained=false"])
    definition, names = get_task("acne_ldl"), list(GRADE_NAMES)
    torch.manual_seed(0)
    built = definition.build(run_config, names, [10] * len(names))
    model = built.module.model
    with torch.no_grad():
        model.train()(torch.rand(8, 3, size, size))
    spec = ModelSpec(
        task=definition.name,
        task_options=definition.spec_block(definition.parse_options(run_config.task)),
        outputs=list(definition.outputs),
        architecture=Architecture(**built.architecture),
        class_names=names,
        preprocessing=Preprocess(size, size + 4).to_dict(),
        decision=Decision(**definition.decision(names)),
    )
    return save_model(out, model.eval(), spec)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def classify_model_dir(out: Path, size: int = 48, temperature: float = 1.5) -> Path:
    """A test_resnet benign/malignant model folder (random weights, batch-norm statistics moved off their defaults,
    a stored temperature and threshold), built through the classify task as training would."""
    run_config = config.load(None, ["model.name=test_resnet", "model.pretrained=false"])
    definition, names = get_task("classify"), ["benign", "malignant"]
    torch.manual_seed(1)
    built = definition.build(run_config, names, [50, 50])
    model = built.module.model
    with torch.no_grad():
        model.train()(torch.rand(8, 3, size, size))
    decision = Decision(**definition.decision(names), temperature=temperature)
    spec = ModelSpec(task="classify", architecture=Architecture(**built.architecture), class_names=names,
                     preprocessing=Preprocess(size, size).to_dict(), decision=decision)  # fmt: skip
    return save_model(out, model.eval(), spec)
