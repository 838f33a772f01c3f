"""Optimisers and learning-rate schedules, each chosen by name from a registry.

Schedules: ``warmup_cosine`` (linear warm-up then cosine decay, stepped every optimiser step, as the skin_classifier
project's Hugging Face ``get_scheduler("cosine")``; Loshchilov & Hutter 2017), ``plateau`` (ReduceLROnPlateau on a
monitored metric, per epoch), ``step`` (x gamma every ``step_size`` epochs, or at ``milestones``), ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from dermkit.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
SCHEDULERS: Registry[Callable[..., dict[str, Any] | None]] = Registry("schedule")


@OPTIMIZERS.register("adam")
def _adam(groups: list[dict], lr: float, weight_decay: float, **_: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("adamw")
def _adamw(groups: list[dict], lr: float, weight_decay: float, **_: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def _sgd(
    groups: list[dict], lr: float, weight_decay: float, momentum: float = 0.9, nesterov: bool = False, **_: Any
) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov)


def create_optimizer(name: str, groups: list[dict], **kwargs: Any) -> torch.optim.Optimizer:
    """Build optimiser ``name`` (``adam``, ``adamw``, ``sgd``) over parameter ``groups``."""
    return OPTIMIZERS.get(name)(groups, **kwargs)


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """LR multiplier: linear 0 -> 1 over ``warmup_steps``, then cosine 1 -> ``min_ratio`` at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@SCHEDULERS.register("warmup_cosine")
def _warmup_cosine(
    optimizer: torch.optim.Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    min_lr_ratio: float = 0.0,
    **_: Any,
) -> dict[str, Any]:
    warmup = round(warmup_epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup, total_steps, min_lr_ratio)
    )
    return {"scheduler": schedule, "interval": "step"}


@SCHEDULERS.register("plateau")
def _plateau(
    optimizer: torch.optim.Optimizer,
    *,
    mode: str = "min",
    factor: float = 0.1,
    patience: int = 10,
    min_lr: float = 0.0,
    monitor: str = "val/loss",
    **_: Any,
) -> dict[str, Any]:
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, factor=factor, patience=patience, min_lr=min_lr
    )
    return {"scheduler": schedule, "interval": "epoch", "monitor": monitor}


@SCHEDULERS.register("step")
def _step(
    optimizer: torch.optim.Optimizer,
    *,
    step_size: int = 30,
    gamma: float = 0.1,
    milestones: list[int] | None = None,
    **_: Any,
) -> dict[str, Any]:
    if milestones:
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)
    else:
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    return {"scheduler": schedule, "interval": "epoch"}


@SCHEDULERS.register("none")
def _none(optimizer: torch.optim.Optimizer, **_: Any) -> None:
    return None


def create_scheduler(name: str | None, optimizer: torch.optim.Optimizer, **kwargs: Any) -> dict[str, Any] | None:
    """Build schedule ``name`` as a Lightning ``lr_scheduler`` config dict (None for no schedule)."""
    return SCHEDULERS.get(name or "none")(optimizer, **kwargs)
