"""``trainer.precision=auto``: bf16-mixed only where a measured training step pays for it, float32 otherwise."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import yaml

from dermkit import config
from dermkit.engine import precision
from dermkit.recipes import resolve_recipe
from tests.conftest import TINY

SHAPE = (4, 3, 16, 16)


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten())


@pytest.mark.parametrize(("bf16_rate", "expected"), [(110.0, "32-true"), (114.0, "32-true"), (116.0, "bf16-mixed")])
def test_auto_keeps_bf16_only_when_it_is_at_least_1_15x_faster(
    bf16_rate: float, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates = {False: 100.0, True: bf16_rate}
    monkeypatch.setattr(precision, "training_step_rate", lambda model, batch, *, bf16, channels_last: rates[bf16])
    chosen, line = precision.resolve_precision("auto", _net(), SHAPE, accelerator="cpu")
    assert chosen == expected
    assert line is not None and f"{bf16_rate / 100:.2f}x" in line and expected in line


def test_auto_does_not_measure_a_run_of_several_cpu_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "training_step_rate", lambda *a, **k: pytest.fail("measured"))
    chosen, line = precision.resolve_precision("auto", _net(), SHAPE, accelerator="cpu", processes=2)
    assert chosen == "32-true" and "several processes" in str(line)
    assert precision.resolve_precision("bf16-mixed", _net(), SHAPE) == ("bf16-mixed", None)  # others pass through


def test_measuring_leaves_the_network_as_it_was() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for bf16 in (False, True):
        assert precision.training_step_rate(net, torch.randn(SHAPE), bf16=bf16, channels_last=True, steps=2) > 0
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics included
    assert all(p.grad is None for p in net.parameters())
    assert net[0].weight.is_contiguous()  # not converted to channels_last


def test_an_auto_run_records_its_choice_and_keeps_auto_in_its_config(
    tmp_path: Path, synth_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dermkit.engine.train import train

    overrides = [f"data.root={synth_dir}", *TINY, "trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    with caplog.at_level(logging.INFO, logger="dermkit"):
        train(config.load(resolve_recipe("demo"), [*overrides, "trainer.precision=auto"]), tmp_path / "run")
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    chosen = spec["training"]["config"]["trainer"]["precision"]
    assert chosen in ("bf16-mixed", "32-true")
    assert any(f"trainer.precision=auto: {chosen} (a training step ran" in r.message for r in caplog.records)
    recipe = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert recipe["trainer"]["precision"] == "auto"  # another machine measures again
