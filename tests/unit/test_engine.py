"""Engine behaviour users rely on: determinism for a seed, early stopping, pass-through Trainer options."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import EarlyStopping

from dermkit import config
from dermkit.engine.train import train
from dermkit.engine.trainer import make_callbacks, make_trainer
from dermkit.recipes import resolve_recipe
from tests.conftest import TINY


def tiny(synth_dir: Path, *extra: str) -> config.RunConfig:
    return config.load(resolve_recipe("demo"), [f"data.root={synth_dir}", *TINY, "trainer.max_epochs=2", *extra])


def test_same_seed_gives_identical_weights(tmp_path: Path, synth_dir: Path) -> None:
    first = train(tiny(synth_dir), tmp_path / "a")
    second = train(tiny(synth_dir), tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert first.val_metrics["log_loss"] == second.val_metrics["log_loss"]
    third = train(tiny(synth_dir, "seed=1"), tmp_path / "c")
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != (tmp_path / "a" / "model.safetensors").read_bytes()
    assert third.out_dir == tmp_path / "c"


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path: Path, synth_dir: Path) -> None:
    cfg = tiny(
        synth_dir, "trainer.max_epochs=8", "trainer.early_stopping_patience=1", "optim.lr=1e-12", "sched.name=none"
    )
    train(cfg, tmp_path / "run")
    from dermkit.models.artifact import read_spec

    assert read_spec(tmp_path / "run").training["epochs_run"] <= 3


def test_callbacks_and_trainer_options_pass_through(tmp_path: Path, synth_dir: Path) -> None:
    cfg = tiny(
        synth_dir,
        "trainer.early_stopping_patience=4",
        "trainer.accumulate_grad_batches=3",
        "trainer.monitor=val/auroc",
        "trainer.gradient_clip_val=1.0",
    )
    best, callbacks = make_callbacks(cfg, tmp_path, ["val/loss", "val/auroc"])
    stopper = next(cb for cb in callbacks if isinstance(cb, EarlyStopping))
    assert stopper.patience == 4 and stopper.mode == "max" and best.mode == "max"
    trainer = make_trainer(cfg, tmp_path, callbacks)
    assert trainer.accumulate_grad_batches == 3 and trainer.gradient_clip_val == 1.0
    assert trainer.max_epochs == 2


def test_hold_out_keeps_byte_identical_files_on_one_side(tmp_path: Path) -> None:
    from dermkit.data import read_dataset
    from dermkit.data.synthetic import make_synthetic_dataset
    from dermkit.engine.setup import hold_out

    make_synthetic_dataset(tmp_path / "data", per_class=20, size=32, seed=0)
    for i, image in enumerate(sorted((tmp_path / "data" / "benign").iterdir())[:8]):
        (tmp_path / "data" / "benign" / f"copy_{i}.jpg").write_bytes(image.read_bytes())  # leak bait
    table = read_dataset(tmp_path / "data")
    assert len(table) == 48
    for seed in range(5):
        train_part, val_part = hold_out(table, 0.3, seed)
        val_bytes = {record.path.read_bytes() for record in val_part.records}
        assert len(val_part) > 0 and not any(r.path.read_bytes() in val_bytes for r in train_part.records), seed


def test_a_crop_far_below_the_resize_is_warned(tmp_path: Path, synth_dir: Path, caplog) -> None:
    train(tiny(synth_dir, "data.image_size=24", "trainer.max_epochs=1"), tmp_path / "run")  # TINY resizes to 48
    assert "data.resize (48) is 2.0x data.image_size (24)" in caplog.text


def test_csv_log_keeps_rows_before_the_resumed_step_under_aligned_columns(tmp_path: Path) -> None:
    import csv

    from dermkit.engine.checkpoint import ResumableCSVLogger

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    rows = "".join(f"{step / 10},{step},{step // 3}\n" for step in range(9))
    (log_dir / "metrics.csv").write_text("val/loss,step,epoch\n" + rows)  # not in sorted order
    logger = ResumableCSVLogger(tmp_path, name="logs", version="", resume_step=6)
    logger.log_metrics({"val/loss": 0.25, "epoch": 2}, step=6)
    logger.save()
    with (log_dir / "metrics.csv").open(newline="") as file:
        kept = list(csv.DictReader(file))
    assert [row["step"] for row in kept] == ["0", "1", "2", "3", "4", "5", "6"]
    assert kept[-1] == {"val/loss": "0.25", "step": "6", "epoch": "2"}

    fresh = ResumableCSVLogger(tmp_path, name="logs", version="")  # a new run into the same folder
    fresh.log_metrics({"val/loss": 0.5, "epoch": 0}, step=0)
    fresh.save()
    assert len((log_dir / "metrics.csv").read_text().splitlines()) == 2


def test_last_ckpt_is_the_latest_epoch_even_when_the_best_is_earlier(tmp_path: Path, synth_dir: Path) -> None:
    import torch

    cfg = tiny(synth_dir, "trainer.max_epochs=3", "optim.lr=1e-12", "sched.name=none", "trainer.monitor=val/acc")
    train(cfg, tmp_path / "run")  # accuracy never improves after epoch 0, so the best checkpoint stays there
    epoch = {
        name: torch.load(tmp_path / "run" / f"{name}.ckpt", weights_only=True)["epoch"] for name in ("best", "last")
    }
    assert epoch == {"best": 0, "last": 2}
