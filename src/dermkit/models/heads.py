"""Classification heads placed on top of a pooled backbone feature, one registry.

``linear``: dropout + one linear layer (timm's default head, the skin_classifier project's ``fc``).
``mlp``: linear -> ReLU -> dropout -> linear (the two-class project's 2048-256-2 head with dropout 0.4).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dermkit.registry import Registry

HeadFactory = Callable[..., nn.Module]
HEADS: Registry[HeadFactory] = Registry("head")
HEAD_INITS = ("xavier", "normal", "default")


@HEADS.register("linear")
def linear_head(in_features: int, num_outputs: int, *, drop_rate: float = 0.0, hidden: int = 256) -> nn.Module:
    """Dropout (when ``drop_rate`` > 0) followed by ``Linear(in_features, num_outputs)``; ``hidden`` is unused."""
    layers: list[nn.Module] = [nn.Dropout(drop_rate)] if drop_rate > 0 else []
    return nn.Sequential(*layers, nn.Linear(in_features, num_outputs))


@HEADS.register("mlp")
def mlp_head(in_features: int, num_outputs: int, *, drop_rate: float = 0.0, hidden: int = 256) -> nn.Module:
    """``Linear(in, hidden) -> ReLU -> Dropout(drop_rate) -> Linear(hidden, num_outputs)``."""
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate), nn.Linear(hidden, num_outputs)
    )


def init_head(head: nn.Module, scheme: str) -> nn.Module:
    """Initialise every linear layer of ``head`` in place.

    Args:
        head: the head module.
        scheme: ``xavier`` (Xavier-normal weights, zero bias; Glorot & Bengio 2010, as skin_classifier does),
            ``normal`` (N(0, 0.001) weights, zero bias, as the LDL and SPBL code do) or ``default`` (PyTorch's).

    Returns:
        The same module.
    """
    if scheme not in HEAD_INITS:
        raise ValueError(f"unknown head_init '{scheme}'; choose one of: {', '.join(HEAD_INITS)}")
    if scheme == "default":
        return head
    for module in head.modules():
        if isinstance(module, nn.Linear):
            if scheme == "xavier":
                nn.init.xavier_normal_(module.weight)
            else:
                nn.init.normal_(module.weight, std=0.001)
            nn.init.zeros_(module.bias)
    return head


def create_head(name: str, in_features: int, num_outputs: int, *, init: str = "xavier", **kwargs: object) -> nn.Module:
    """Build and initialise the head registered as ``name``."""
    return init_head(HEADS.get(name)(in_features, num_outputs, **kwargs), init)
