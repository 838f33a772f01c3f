"""A NaN/inf training loss stops the run at once with one line (epoch, step, learning rate, remedies) and never lets
a non-finite state reach a checkpoint; ``trainer.skip_nonfinite=N`` skips up to N such batches, changing nothing."""

from __future__ import annotations

import csv
import logging
import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch

from dermkit import config
from dermkit.cli import main
from dermkit.engine.checkpoint import load_task_state
from dermkit.engine.nonfinite import NonFiniteGuard
from dermkit.engine.train import build_run, export, fit
from dermkit.errors import NonFiniteLossError
from dermkit.models.artifact import read_spec
from dermkit.recipes import resolve_recipe
from tests.reliability.conftest import FAST, one_error_line

REMEDIES = "try a lower optim.lr, trainer.gradient_clip_val=1.0, or fp32 (trainer.precision=32)"


def _logged_train_losses(run: Path) -> list[float]:
    with (run / "logs" / "metrics.csv").open(newline="") as handle:
        return [float(row["train/loss_step"]) for row in csv.DictReader(handle) if row.get("train/loss_step")]


def test_a_learning_rate_that_diverges_in_epoch_2_stops_there_and_keeps_epoch_1s_checkpoint(
    tmp_path, tiny_data, capfd
) -> None:
    # Adam at 1e-3 in epoch 1, then the step schedule multiplies the rate by 1e12: the loss is NaN within two steps
    run = tmp_path / "run"
    diverge = ["optim.lr=1e-3", "sched.name=step", "sched.step_size=1", "sched.gamma=1e12", "trainer.max_epochs=3"]
    code = main(["--quiet", "train", "demo", f"data.root={tiny_data}", *FAST, *diverge, "--out", str(run)])
    line = one_error_line(capfd.readouterr().err)
    assert code == 2
    found = re.fullmatch(
        r"error: the training loss is (nan|inf|-inf) at epoch 2 of 3, step (\d+) \(learning rate 1e\+09\): "
        r"training stopped; last\.ckpt from epoch 1 is kept \(resume or inspect it\); (.*)",
        line,
    )
    assert found, line
    assert found.group(3) == REMEDIES + "; trainer.skip_nonfinite=N skips up to N such batches"
    losses = _logged_train_losses(run)  # every step is logged: all those before the named one were finite
    assert losses and all(math.isfinite(loss) for loss in losses) and int(found.group(2)) == len(losses) + 1
    for name in ("last.ckpt", "best.ckpt"):
        weights, meta = load_task_state(run / name)
        assert meta["epoch"] == 0 and all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    assert not (run / "model.json").exists() and not list(run.glob(".*.tmp"))


def test_the_skip_budget_is_spent_with_a_warning_each_then_the_run_stops(
    tmp_path, tiny_data, capfd, caplog, monkeypatch
) -> None:
    # at 1e8 the first step ruins the weights: every later loss is NaN, so two are skipped and the third stops
    monkeypatch.setattr(logging.getLogger("dermkit"), "handlers", [])  # the CLI's handler writes to this stderr
    run = tmp_path / "run"
    args = ["optim.lr=1e8", "trainer.skip_nonfinite=2", "trainer.max_epochs=2", "data.batch_size=4"]
    with caplog.at_level(logging.WARNING, logger="dermkit"):
        code = main(["train", "demo", f"data.root={tiny_data}", *FAST, *args, "--out", str(run)])
    err = capfd.readouterr().err
    assert code == 2
    warnings = [record.getMessage() for record in caplog.records if "batch skipped" in record.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].endswith("batch skipped (1 of at most 2, trainer.skip_nonfinite)")
    assert warnings[1].endswith("batch skipped (2 of at most 2, trainer.skip_nonfinite)")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "training stopped after skipping 2 such batches (trainer.skip_nonfinite)" in errors[0]
    assert errors[0].endswith(REMEDIES)  # the skip hint is not repeated to a user who set it


class _Watch(L.Callback):
    """Copies of the state (weights and batch-norm buffers) before and after every training batch."""

    def __init__(self) -> None:
        self.before: list[dict[str, torch.Tensor]] = []
        self.after: list[dict[str, torch.Tensor]] = []

    @staticmethod
    def _state(module: L.LightningModule) -> dict[str, torch.Tensor]:
        return {key: value.detach().clone() for key, value in module.state_dict().items()}

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        self.before.append(self._state(module))

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        self.after.append(self._state(module))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[key], b[key]) for key in a)


def test_a_skipped_nan_batch_changes_no_weight_and_is_counted(tmp_path, tiny_data, caplog) -> None:
    cfg = config.load(
        resolve_recipe("demo"),
        [f"data.root={tiny_data}", *FAST, "optim.lr=1e-2", "trainer.skip_nonfinite=1", "trainer.max_epochs=2"],
    )
    (tmp_path / "run").mkdir()
    run = build_run(cfg, tmp_path / "run")
    task = run.module.task
    calls = {"train": 0}
    real_forward = task.forward

    def poisoned(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = real_forward(batch)
        if task.training:
            calls["train"] += 1
            if calls["train"] == 2:  # the second training batch: a NaN loss (an fp16 overflow, a poisonous batch)
                out["loss"] = out["loss"] * float("nan")
        return out

    task.forward = poisoned
    watch = _Watch()
    with caplog.at_level(logging.WARNING, logger="dermkit"):
        result = export(run, fit(run, callbacks=[watch]))
    assert _same(watch.before[1], watch.after[1])  # the skipped batch: weights and running statistics untouched
    assert not _same(watch.before[0], watch.after[0]) and not _same(watch.before[2], watch.after[2])
    skipped = [record.getMessage() for record in caplog.records if "batch skipped" in record.getMessage()]
    assert len(skipped) == 1
    assert re.fullmatch(r"the training loss is nan at epoch 1 of 2, step 2 \(learning rate 0\.01\): batch skipped "
                        r"\(1 of at most 1, trainer\.skip_nonfinite\)", skipped[0])  # fmt: skip
    assert result.nonfinite_skipped == 1 and read_spec(tmp_path / "run").training["nonfinite_skipped"] == 1
    assert math.isfinite(result.val_metrics["log_loss"])


def _fake_module(epoch: int = 2, step: int = 10, rates: tuple[float, ...] = (0.1,)) -> SimpleNamespace:
    optimizer = SimpleNamespace(param_groups=[{"lr": rate} for rate in rates])
    trainer = SimpleNamespace(optimizers=[optimizer], current_epoch=epoch, max_epochs=5, global_step=step)
    return SimpleNamespace(trainer=trainer, current_epoch=epoch)


def test_a_checkpoint_of_non_finite_weights_is_refused_before_it_is_written() -> None:
    guard = NonFiniteGuard()
    good = {"state_dict": {"w": torch.ones(3), "n": torch.tensor(4)}, "epoch": 1}
    guard.check_checkpoint(_fake_module(), good)  # finite: saved, and its epoch remembered
    assert guard.saved_epoch == 2 and good["dermkit_nonfinite_skipped"] == 0
    bad = {"state_dict": {"w": torch.tensor([1.0, float("inf")])}, "epoch": 2}
    with pytest.raises(NonFiniteLossError) as caught:
        guard.check_checkpoint(_fake_module(epoch=2, step=10, rates=(1e-4, 1e-3)), bad)
    assert str(caught.value) == (
        "the weights became NaN or infinite by epoch 3 of 5, step 11 (learning rates 0.0001, 0.001): training "
        f"stopped before saving them; last.ckpt from epoch 2 is kept (resume or inspect it); {REMEDIES}; "
        "trainer.skip_nonfinite=N skips up to N such batches"
    )
    assert "dermkit_nonfinite_skipped" not in bad and guard.saved_epoch == 2


def test_the_skip_count_continues_across_resume() -> None:
    guard = NonFiniteGuard(skip_limit=3)
    guard.restore({"dermkit_nonfinite_skipped": 2, "epoch": 4})
    assert guard.skipped == 2 and guard.saved_epoch == 5
    with pytest.raises(ValueError, match="skip_limit must be >= 0"):
        NonFiniteGuard(-1)


def test_skip_nonfinite_is_a_validated_trainer_key(tiny_data) -> None:
    cfg = config.load(resolve_recipe("demo"), [f"data.root={tiny_data}", "trainer.skip_nonfinite=3"])
    assert cfg.trainer.skip_nonfinite == 3
    with pytest.raises(Exception, match="skip_nonfinite"):
        config.load(resolve_recipe("demo"), [f"data.root={tiny_data}", "trainer.skip_nonfinite=-1"])
