"""``create_model``: a timm backbone plus a dermkit head, the one model class every task trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from dermkit.models.backbones import create_backbone, pooled_width
from dermkit.models.heads import create_head


class Classifier(nn.Module):
    """A backbone and a head: ``forward(x) = head(pool(features(x)))``.

    The parts stay reachable for tasks that need them (distillation taps ``forward_features``; Grad-CAM hooks the
    last feature map; SPBL reads the pooled feature).

    Shape:
        x: (N, 3, H, W). Output: (N, num_outputs) logits.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, (N, C, h, w) for CNNs."""
        return self.backbone.forward_features(x)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Global pooling of a feature map (and any layers timm puts after it) to (N, pooled_width(backbone))."""
        return self.backbone.forward_head(features, pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.forward_features(x)))


class FeatureClassifier(Classifier):
    """A classifier that also returns its pooled feature through a LeakyReLU: ``forward(x) -> (logits, features)``.

    Self-paced balance learning (Yang, Wu et al., IEEE TNNLS 2019) fits its SVM on the LeakyReLU(0.1)-activated
    pooled feature of the CNN; returning it beside the logits lets the exported network (and an ONNX copy of it)
    feed the SVM without hooks. The head still sees the plain pooled feature.

    Shape:
        x: (N, 3, H, W). Output: logits (N, num_outputs) and features (N, :func:`pooled_width` of the backbone).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, negative_slope: float) -> None:
        super().__init__(backbone, head)
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        pooled = self.pool(self.forward_features(x))
        return self.head(pooled), nn.functional.leaky_relu(pooled, self.negative_slope)


class MultiHeadModel(Classifier):
    """A backbone and several named heads on its pooled feature: ``forward(x)`` returns their outputs as a tuple,
    in the order of ``heads`` (acne: grading and counting heads). A tuple, not a dict, so ONNX export names each
    output after its head.

    Shape:
        x: (N, 3, H, W). Output: one (N, outputs_k) tensor per head.
    """

    def __init__(self, backbone: nn.Module, heads: dict[str, nn.Module]) -> None:
        super().__init__(backbone, nn.ModuleDict(heads))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        pooled = self.pool(self.forward_features(x))
        return tuple(head(pooled) for head in self.head.values())


def create_model(
    name: str,
    num_outputs: int,
    *,
    pretrained: bool = False,
    pretrained_file: str | Path | None = None,
    head: str = "linear",
    head_hidden: int = 256,
    head_init: str = "xavier",
    drop_rate: float = 0.0,
    stem: str = "default",
    heads: dict[str, int] | None = None,
    features_slope: float | None = None,
    **kwargs: Any,
) -> Classifier:
    """Build a classifier from a timm backbone name.

    Args:
        name: timm model name (``resnet18``, ``resnet50.tv_in1k``, ``mobilenetv2_100``, ``test_resnet``...).
        num_outputs: logits the head produces (classes, or 1 for a binary model trained with BCE).
        pretrained: ImageNet weights through timm's hub.
        pretrained_file: ImageNet weights from a local file.
        head: a registered head (``linear``, ``mlp``).
        head_hidden: hidden width of the ``mlp`` head.
        head_init: ``xavier``, ``normal`` or ``default``.
        drop_rate: dropout before the last linear layer.
        stem: ``default``, or ``cifar`` for a ResNet's 3x3 stride-1 stem without max-pool (small inputs).
        heads: several named heads instead of one, ``{name: num_outputs}`` (``num_outputs`` is then ignored); the
            model returns a tuple in this order (:class:`MultiHeadModel`).
        features_slope: also return the pooled feature through a LeakyReLU of this negative slope, as
            ``(logits, features)`` (:class:`FeatureClassifier`; SPBL uses 0.1).
        **kwargs: passed to timm (``None`` values ignored).

    Returns:
        The model, in train mode.
    """
    backbone = create_backbone(name, pretrained=pretrained, pretrained_file=pretrained_file, stem=stem, **kwargs)

    def make_head(outputs: int) -> nn.Module:
        features = pooled_width(backbone)
        return create_head(head, features, outputs, init=head_init, drop_rate=drop_rate, hidden=head_hidden)

    if heads:
        return MultiHeadModel(backbone, {key: make_head(outputs) for key, outputs in heads.items()})
    if features_slope is not None:
        return FeatureClassifier(backbone, make_head(num_outputs), float(features_slope))
    return Classifier(backbone, make_head(num_outputs))
