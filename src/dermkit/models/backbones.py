"""Backbones by timm name, with pretrained weights from the hub or from a local file.

Tests and CI never download: they use ``pretrained=False`` (random init). Users with internet set
``pretrained=True`` and timm fetches the weights (or finds them in the user's hub cache); anyone can point
``pretrained_file`` at a local ``.pth``/``.safetensors`` weight file (timm, torchvision, or a dermkit
``model.safetensors`` to fine-tune from). Every backbone tensor must be found in the file: a file that fits only in
part is an error, never a silent half-random start (only a stem replaced by ``stem="cifar"`` stays fresh, said in
a warning).
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from dermkit.errors import ConfigError, ModelFileError

log = logging.getLogger("dermkit")


def _unknown_model(name: str) -> ConfigError:
    stem = name.split(".")[0]
    similar = difflib.get_close_matches(stem, timm.list_models(), n=8, cutoff=0.6)
    hint = f"; similar: {', '.join(similar)}" if similar else ""
    return ConfigError(
        f"unknown model '{name}' (any timm model name works, e.g. resnet18, resnet50, "
        f"resnext50_32x4d, mobilenetv2_100, efficientnet_b0{hint})"
    )


STEMS = ("default", "cifar")


def use_small_image_stem(backbone: nn.Module, name: str) -> nn.Module:
    """Give a ResNet a stride-1 stem without max-pool, the CIFAR-style stem of He et al. (2016).

    The MedMNIST v2 benchmark's 28-px ResNets use it: on 28-px inputs the ImageNet stem (7x7 stride-2 conv +
    max-pool) shrinks the map 4x before the first block. A single 7x7 conv becomes a Kaiming-initialised 3x3 conv;
    a deep stem (``resnet18d``, ``test_resnet``: a sequence of 3x3 convs) keeps its convs and loses their stride.
    """
    stem, pool = getattr(backbone, "conv1", None), getattr(backbone, "maxpool", None)
    if not isinstance(stem, nn.Conv2d | nn.Sequential) or pool is None:
        raise ConfigError(f"model.stem=cifar needs a ResNet-style backbone (conv1 + maxpool); '{name}' has none")
    if isinstance(stem, nn.Conv2d):
        small = nn.Conv2d(stem.in_channels, stem.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(small.weight, mode="fan_out", nonlinearity="relu")
        backbone.conv1 = small
    else:
        for conv in stem.modules():
            if isinstance(conv, nn.Conv2d):
                conv.stride = (1, 1)
    backbone.maxpool = nn.Identity()
    return backbone


def create_backbone(
    name: str,
    *,
    pretrained: bool = False,
    pretrained_file: str | Path | None = None,
    stem: str = "default",
    **kwargs: Any,
) -> nn.Module:
    """A timm model without its classifier (``num_classes=0``): ``forward_features`` and ``forward_head`` work.

    Args:
        name: a timm model name, optionally with a weight tag (``resnet18.tv_in1k``).
        pretrained: fetch ImageNet weights through timm's hub (needs internet or a warm hub cache).
        pretrained_file: load weights from this local file instead (implies pretrained).
        stem: ``default`` keeps the model's stem; ``cifar`` gives a ResNet a 3x3 stride-1 stem without max-pool
            (for 28-64 px inputs; see :func:`use_small_image_stem`).
        **kwargs: passed to ``timm.create_model`` (``drop_path_rate``...); ``None`` values are ignored.

    Returns:
        The backbone; :func:`pooled_width` is the width of the feature its head sees.
    """
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    if stem not in STEMS:
        raise ConfigError(f"unknown model.stem '{stem}'; choose one of: {', '.join(STEMS)}")
    if not timm.is_model(name):
        raise _unknown_model(name)
    path = None
    if pretrained_file is not None:
        path = Path(pretrained_file).expanduser()
        if not path.is_file():
            what = "is a folder, not a weight file" if path.is_dir() else "pretrained weight file not found"
            raise ModelFileError(f"{path}: {what} (model.pretrained_file)")
        pretrained = False  # the file is loaded below, checked tensor by tensor
    try:
        backbone = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
    except (OSError, ConnectionError) as exc:
        raise ModelFileError(
            f"could not fetch pretrained weights for '{name}' from the hub ({type(exc).__name__}); with no internet "
            "set model.pretrained_file=PATH to a local weight file, or model.pretrained=false"
        ) from None
    new_tensors: set[str] = set()
    if stem == "cifar":
        if isinstance(getattr(backbone, "conv1", None), nn.Conv2d):
            new_tensors.add("conv1.weight")  # a new 3x3 conv: ImageNet's 7x7 one cannot fill it
        backbone = use_small_image_stem(backbone, name)
    if path is not None:
        load_weight_file(backbone, path, name, may_miss=new_tensors)
    return backbone


_NESTED = ("state_dict", "model", "state_dict_ema", "model_ema")


def read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    """A flat name -> tensor dict from a ``.safetensors`` or ``torch.save`` file (never unpickling objects)."""
    readers = (load_file, _torch_load) if path.suffix == ".safetensors" else (_torch_load, load_file)
    problem = ""
    for read in readers:
        try:
            state = read(path)
            break
        except Exception as exc:  # torch and safetensors raise many types for foreign or damaged files
            problem = problem or str(exc).splitlines()[0][:200]
    else:
        raise ModelFileError(f"{path}: cannot read weights: not a PyTorch or safetensors weight file ({problem})")
    for key in _NESTED:  # training checkpoints nest the weights
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path}: holds no named weight tensors")
    return {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _torch_load(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


def _wrapper_prefix(names: Iterable[str], expected: Mapping[str, torch.Tensor]) -> str:
    """The leading ``a.b.`` that most names carry before a backbone tensor name: ``module.`` (DDP), ``backbone.``
    (a dermkit model), ``task.model.backbone.`` (a dermkit Lightning checkpoint)... or "" when they match as they are.
    """
    counts: Counter[str] = Counter()
    for name in names:
        parts = name.split(".")
        for i in range(len(parts)):
            prefix = ".".join(parts[:i]) + "." if i else ""
            if name[len(prefix) :] in expected:
                counts[prefix] += 1
                break
    return counts.most_common(1)[0][0] if counts else ""


def load_weight_file(
    backbone: nn.Module, path: Path, name: str, may_miss: set[str] | frozenset[str] = frozenset()
) -> None:
    """Load ``path`` into ``backbone``: classifier tensors in the file are ignored, a missing backbone tensor fails.

    Args:
        backbone: the freshly built backbone.
        path: the weight file.
        name: the model name, for messages.
        may_miss: tensors that stay as initialised when the file has none of their shape (a replaced stem).
    """
    expected = backbone.state_dict()
    state = read_weight_file(path)
    prefix = _wrapper_prefix(state, expected)
    matched = {
        key[len(prefix) :]: value
        for key, value in state.items()
        if key.startswith(prefix) and value.shape == expected.get(key[len(prefix) :], torch.empty(0)).shape
    }
    needed = [key for key in expected if not key.endswith("num_batches_tracked")]
    missing = [key for key in needed if key not in matched and key not in may_miss]
    if missing:
        raise ModelFileError(
            f"{path}: weights do not fit '{name}': {len(missing)} of {len(needed)} backbone tensors missing or "
            f"of another shape (e.g. {missing[0]})"
        )
    kept = sorted(key for key in may_miss if key not in matched)
    if kept:
        log.warning("%s: %s keep their fresh initialisation (the file's have another shape)", path, ", ".join(kept))
    backbone.load_state_dict(matched, strict=False)


def pooled_width(backbone: nn.Module) -> int:
    """Width of ``backbone.forward_head(x, pre_logits=True)``, the feature a classifier head sees: timm's
    ``head_hidden_size`` where the model has layers after its pooling (MobileNetV3's 1x1 conv head: 288 channels
    pooled, 1024 out), else ``num_features``."""
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)
