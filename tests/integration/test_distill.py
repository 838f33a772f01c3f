"""Distillation end to end: a tiny teacher trained on synthetic lesions teaches a tiny student (KD, D-KD, SSD-KD with
its stage-1 head); the student's artefact holds the student alone and predicts like any classifier."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import lightning
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dermkit import config
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.engine.train import Run, build_run, export, fit, train
from dermkit.inference.predictor import Predictor
from dermkit.models import create_model

pytestmark = pytest.mark.slow

CLASSES = ("nevus", "melanoma", "keratosis")
COMMON = [
    "data.resize_mode=square",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.val_fraction=0.25",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "optim.lr=3e-3",
]
# the student sees 32 px and other normalisation constants than the 40-px teacher: its teacher view is resized
STUDENT = [
    *COMMON,
    "data.image_size=32",
    "data.resize=32",
    "data.mean=[0.5,0.5,0.5]",
    "data.std=[0.25,0.25,0.25]",
    "model.name=test_efficientnet",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
]


@pytest.fixture(scope="module")
def lesions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distill_data")
    make_synthetic_dataset(root, CLASSES, per_class=12, size=40, seed=3)
    return root


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, lesions: Path) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "run"
    overrides = [
        *COMMON,
        f"data.root={lesions}",
        "data.image_size=40",
        "data.resize=40",
        "model.name=test_resnet",
        "trainer.max_epochs=10",  # a teacher that knows something: KD then agrees with the labels
    ]
    train(config.load(None, overrides), out)
    return out


@pytest.fixture(scope="module")
def teacher_head(tmp_path_factory: pytest.TempPathFactory, lesions: Path, teacher: Path) -> Path:
    out = tmp_path_factory.mktemp("ssdkd_stage1") / "run"
    overrides = [*STUDENT, f"data.root={lesions}", "task.name=ssdkd_teacher_head", f"task.teacher={teacher}"]
    train(config.load(None, overrides), out)
    return out


def _steps(run: Path) -> list[dict[str, str]]:
    with (run / "logs" / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_stage1_trains_the_teacher_head_only_and_validates_as_the_teacher(teacher_head: Path, teacher: Path) -> None:
    state = load_file(teacher_head / "model.safetensors")
    teacher_state = load_file(teacher / "model.safetensors")
    heads = sorted(key for key in state if key.startswith("ss_head."))
    assert heads == ["ss_head.mlp.0.bias", "ss_head.mlp.0.weight", "ss_head.mlp.2.bias", "ss_head.mlp.2.weight"]
    for key, value in teacher_state.items():  # the frozen teacher comes out bit for bit as it went in
        assert np.array_equal(state[f"teacher.model.{key}"].numpy(), value.numpy()), key
    rows = _steps(teacher_head)
    assert any(row.get("val/ss_acc") for row in rows)


def _losses(run: Run, batches: list[dict]) -> tuple[float, dict[str, float]]:
    """The task's mean training loss over ``batches`` and the first batch's parts, leaving the module's state
    (BatchNorm statistics) untouched."""
    task = run.module.task
    state = copy.deepcopy(task.state_dict())
    task.train()
    with torch.no_grad():
        outs = [task(batch) for batch in batches]
    task.load_state_dict(state)
    parts = {key: float(value) for key, value in outs[0].items() if key.startswith("loss_")}
    return float(np.mean([float(out["loss"]) for out in outs])), parts


@pytest.mark.parametrize(
    ("task", "parts"),
    [
        ("distill_kd", ["loss_ce", "loss_kd"]),
        ("distill_dkd", ["loss_ce", "loss_kd", "loss_dist", "loss_angle", "loss_cr"]),
        ("distill_ssdkd", ["loss_ce", "loss_kd", "loss_kd_rot", "loss_ss", "loss_relational"]),
    ],
)
def test_student_learns_logs_every_term_and_exports_alone(
    request: pytest.FixtureRequest, tmp_path: Path, lesions: Path, teacher: Path, task: str, parts: list[str]
) -> None:
    extra = [f"task.teacher_head={request.getfixturevalue('teacher_head')}"] if task == "distill_ssdkd" else []
    overrides = [*STUDENT, f"data.root={lesions}", f"task.name={task}", f"task.teacher={teacher}", *extra]
    lightning.seed_everything(0, verbose=False)
    run = build_run(config.load(None, overrides), tmp_path / "student")
    batches = list(run.train_loader)  # one epoch's batches, augmented once and kept
    before, terms = _losses(run, batches)
    assert sorted(terms) == sorted(parts)  # exactly the task's terms, each its own value
    fitted = fit(run)
    after, _ = _losses(run, batches)
    assert after < before, (before, after)  # one epoch of distillation lowers the loss on the training images
    result = export(run, fitted)

    logged = next(row for row in _steps(run.out_dir) if row.get("train/loss_epoch"))
    assert all(np.isfinite(float(logged[f"train/{part}"])) for part in parts)  # every term logged

    weights = load_file(result.out_dir / "model.safetensors")
    fresh = create_model("test_efficientnet", len(CLASSES)).state_dict()
    assert set(weights) == set(fresh)  # the student only: no teacher, regressor or projection-head tensors
    assert all(weights[key].shape == fresh[key].shape for key in fresh)

    predictor = Predictor.from_checkpoint(result.out_dir)
    assert predictor.spec.task == task and predictor.class_names == sorted(CLASSES)
    assert predictor.spec.preprocessing["image_size"] == 32
    prediction = predictor.predict(next((lesions / "melanoma").iterdir()))
    assert prediction.label in CLASSES
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
