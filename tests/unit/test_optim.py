"""dermkit.engine.optim: optimisers and learning-rate schedules by name."""

from __future__ import annotations

import itertools

import pytest
import torch

from dermkit.engine.optim import (
    OPTIMIZERS,
    SCHEDULERS,
    create_optimizer,
    create_scheduler,
    warmup_cosine_factor,
)
from dermkit.registry import RegistryError


def groups(lr_mult: float = 1.0) -> list[dict]:
    body, head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
    return [{"params": list(body.parameters())}, {"params": list(head.parameters()), "lr": 0.1 * lr_mult}]


# --- warmup_cosine_factor ------------------------------------------------------------------------------------------


def test_warmup_is_linear_and_reaches_one_at_its_end() -> None:
    factors = [warmup_cosine_factor(step, 10, 100) for step in range(10)]
    assert factors == pytest.approx([(step + 1) / 10 for step in range(10)])
    differences = [b - a for a, b in itertools.pairwise(factors)]
    assert differences == pytest.approx([0.1] * 9)
    assert factors[-1] == pytest.approx(1.0)
    assert warmup_cosine_factor(10, 10, 100) == pytest.approx(1.0)


@pytest.mark.parametrize("min_ratio", [0.0, 0.1, 0.5])
def test_cosine_ends_at_min_ratio_and_stays_there(min_ratio: float) -> None:
    assert warmup_cosine_factor(100, 10, 100, min_ratio) == pytest.approx(min_ratio)
    assert warmup_cosine_factor(150, 10, 100, min_ratio) == pytest.approx(min_ratio)


@pytest.mark.parametrize("min_ratio", [0.0, 0.2])
def test_cosine_is_monotone_decreasing_after_warmup(min_ratio: float) -> None:
    factors = [warmup_cosine_factor(step, 10, 100, min_ratio) for step in range(10, 101)]
    assert all(b <= a for a, b in itertools.pairwise(factors))
    assert factors[0] > factors[-1]
    assert all(min_ratio - 1e-12 <= f <= 1.0 for f in factors)


def test_cosine_is_half_way_at_mid_point() -> None:
    assert warmup_cosine_factor(55, 10, 100, 0.0) == pytest.approx(0.5)
    assert warmup_cosine_factor(55, 10, 100, 0.2) == pytest.approx(0.6)


def test_no_warmup_starts_at_one() -> None:
    assert warmup_cosine_factor(0, 0, 50) == pytest.approx(1.0)
    assert warmup_cosine_factor(25, 0, 50) == pytest.approx(0.5)


# --- optimisers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)]
)
def test_create_optimizer_by_name_with_lr_and_weight_decay(name: str, cls: type) -> None:
    optimizer = create_optimizer(name, groups(), lr=1e-3, weight_decay=1e-4)
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["lr"] == 1e-3
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.1)  # a group's own lr wins
    assert all(group["weight_decay"] == 1e-4 for group in optimizer.param_groups)


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_honours_nesterov_and_momentum(nesterov: bool) -> None:
    optimizer = create_optimizer("sgd", groups(), lr=0.01, weight_decay=0.0, momentum=0.8, nesterov=nesterov)
    assert optimizer.defaults["nesterov"] is nesterov
    assert optimizer.defaults["momentum"] == 0.8


def test_adam_ignores_sgd_only_options() -> None:
    optimizer = create_optimizer("adam", groups(), lr=1e-3, weight_decay=0.0, momentum=0.9, nesterov=True)
    assert "nesterov" not in optimizer.defaults


def test_unknown_optimizer_lists_choices() -> None:
    with pytest.raises(RegistryError, match=r"unknown optimizer 'lamb'; choose one of: adam, adamw, sgd"):
        create_optimizer("lamb", groups(), lr=1e-3, weight_decay=0.0)
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd"]


# --- schedulers ----------------------------------------------------------------------------------------------------


def sgd() -> torch.optim.Optimizer:
    return create_optimizer("sgd", [{"params": [torch.nn.Parameter(torch.zeros(1))]}], lr=1.0, weight_decay=0.0)


def test_warmup_cosine_scheduler_steps_per_batch_and_follows_the_factor() -> None:
    optimizer = sgd()
    config = create_scheduler("warmup_cosine", optimizer, total_steps=40, steps_per_epoch=10, warmup_epochs=1.5)
    assert config["interval"] == "step"
    assert isinstance(config["scheduler"], torch.optim.lr_scheduler.LambdaLR)
    lrs = []
    for _ in range(40):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        config["scheduler"].step()
    expected = [warmup_cosine_factor(step, 15, 40) for step in range(40)]
    assert lrs == pytest.approx(expected)


def test_plateau_scheduler_is_per_epoch_with_monitor() -> None:
    config = create_scheduler("plateau", sgd(), mode="max", factor=0.2, patience=5, monitor="val/acc")
    assert config["interval"] == "epoch"
    assert config["monitor"] == "val/acc"
    scheduler = config["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert scheduler.factor == 0.2 and scheduler.patience == 5 and scheduler.mode == "max"


def test_step_scheduler_uses_step_size_or_milestones() -> None:
    step = create_scheduler("step", sgd(), step_size=3, gamma=0.5)
    assert step["interval"] == "epoch"
    assert isinstance(step["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert step["scheduler"].step_size == 3
    multi = create_scheduler("step", sgd(), milestones=[2, 5], gamma=0.5)
    assert isinstance(multi["scheduler"], torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(multi["scheduler"].milestones) == [2, 5]


@pytest.mark.parametrize("name", ["none", None])
def test_no_schedule_returns_none(name: str | None) -> None:
    assert create_scheduler(name, sgd(), total_steps=10, steps_per_epoch=2) is None


def test_schedulers_ignore_options_of_other_schedules() -> None:
    config = create_scheduler("plateau", sgd(), total_steps=10, steps_per_epoch=2, warmup_epochs=1, step_size=3)
    assert config["interval"] == "epoch"


def test_unknown_scheduler_lists_choices() -> None:
    with pytest.raises(RegistryError, match=r"unknown schedule 'onecycle'") as info:
        create_scheduler("onecycle", sgd())
    for name in ("warmup_cosine", "plateau", "step", "none"):
        assert name in str(info.value)
    assert set(SCHEDULERS.names()) == {"warmup_cosine", "plateau", "step", "none"}
