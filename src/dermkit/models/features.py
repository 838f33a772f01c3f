"""Named features of a dermkit model, for distillation: timm's stages, the last map, the pooled vector, the logits.

Stage names are timm's ``feature_info`` module names (``layer1`` ... ``layer4`` for a ResNet, ``blocks.1`` ... for a
MobileNetV2) plus three of dermkit's own:

- ``last_map``: the backbone's last feature map (``forward_features``), the D-KD paper's ``feats_7x7``
  (2048 x 7 x 7 for ResNet-50, 1280 x 7 x 7 for MobileNetV2 at 224 px);
- ``avg_pool``: that map pooled (``forward_head(pre_logits=True)``), the vector the head sees;
- ``logits``: the head's output, equal to ``model(x)``.

Intermediate stages come from timm's ``forward_intermediates`` in the same pass, never from hooks on private
attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dermkit.errors import ConfigError
from dermkit.models.backbones import create_backbone
from dermkit.models.factory import Classifier

LAST_MAP, POOLED, LOGITS = "last_map", "avg_pool", "logits"
HEAD_STAGES = (LAST_MAP, POOLED, LOGITS)


def _backbone_stages(backbone: nn.Module) -> list[str]:
    return [str(info["module"]) for info in getattr(backbone, "feature_info", [])]


def _name(model: Classifier) -> str:
    return str(getattr(model.backbone, "pretrained_cfg", {}).get("architecture", type(model.backbone).__name__))


def feature_stages(model: str | Classifier) -> list[str]:
    """Stage names :func:`extract_features` accepts for a timm model name or a built dermkit model.

    A name is built on the meta device (no weights allocated, nothing downloaded).

    Returns:
        timm's stages from input to output, then ``last_map``, ``avg_pool``, ``logits``.
    """
    if isinstance(model, str):
        with torch.device("meta"):
            backbone = create_backbone(model)
    else:
        backbone = model.backbone
    return [*_backbone_stages(backbone), *HEAD_STAGES]


def check_stages(model: Classifier, stages: Sequence[str]) -> None:
    """Raise one :class:`~dermkit.errors.ConfigError` line naming an unknown stage and the valid ones."""
    valid = feature_stages(model)
    for stage in stages:
        if stage not in valid:
            raise ConfigError(f"unknown feature stage '{stage}' for model '{_name(model)}'; valid: {', '.join(valid)}")
    if not stages:
        raise ConfigError(f"no feature stage asked of model '{_name(model)}'; valid: {', '.join(valid)}")


def extract_features(model: Classifier, x: torch.Tensor, stages: Sequence[str]) -> dict[str, torch.Tensor]:
    """The named features of one forward pass of ``model``.

    Args:
        model: a dermkit :class:`~dermkit.models.factory.Classifier` (``create_model``).
        x: images.
        stages: names from :func:`feature_stages`.

    Returns:
        ``{stage: tensor}`` for the asked stages, in the order asked.

    Shape:
        x (N, 3, H, W); a timm stage (N, C_i, H_i, W_i) for CNNs, ``last_map`` (N, C, h, w), ``avg_pool``
        (N, :func:`dermkit.models.backbones.pooled_width`), ``logits`` (N, num_outputs).
    """
    check_stages(model, stages)
    backbone_stages = _backbone_stages(model.backbone)
    indices = sorted({backbone_stages.index(stage) for stage in stages if stage not in HEAD_STAGES})
    found: dict[str, torch.Tensor] = {}
    if indices:
        # forward_intermediates returns forward_features' output too, so one pass gives every stage
        last_map, intermediates = model.backbone.forward_intermediates(x, indices=indices)
        found.update({backbone_stages[i]: feature for i, feature in zip(indices, intermediates, strict=True)})
    else:
        last_map = model.forward_features(x)
    found[LAST_MAP] = last_map
    if POOLED in stages or LOGITS in stages:
        found[POOLED] = model.pool(last_map)
        found[LOGITS] = model.head(found[POOLED])
    return {stage: found[stage] for stage in stages}


class FeatureExtractor(nn.Module):
    """Module form of :func:`extract_features`: wraps ``model`` and returns the named stages; names checked at build.

    Shape:
        x (N, 3, H, W); output as :func:`extract_features`.
    """

    def __init__(self, model: Classifier, stages: Sequence[str] = HEAD_STAGES) -> None:
        super().__init__()
        check_stages(model, stages)
        self.model = model
        self.stages = tuple(stages)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return extract_features(self.model, x, self.stages)
