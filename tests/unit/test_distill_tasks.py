"""The distillation tasks without training: weights 0 is plain classification, the teacher is frozen and kept out
of the optimiser, its view of the student's batch, and every bad teacher input as one line before training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dermkit import config
from dermkit.data.preprocess import Preprocess
from dermkit.models import create_model
from dermkit.models.artifact import Architecture, ModelSpec, save_model
from dermkit.tasks import get_task
from dermkit.tasks.distill_teacher import FrozenTeacher, TeacherView

CLASSES = ["a", "b", "c"]
COUNTS = [10, 20, 40]  # N / N_c = 7, 3.5, 1.75: exact, so round(., 3) changes nothing
STUDENT = ["model.name=test_efficientnet", "data.image_size=32", "data.resize=32"]


def save_teacher(folder: Path, classes: list[str], seed: int = 0, task: str = "classify", model=None) -> Path:
    torch.manual_seed(seed)
    model = model if model is not None else create_model("test_resnet", len(classes)).eval()
    spec = ModelSpec(
        task=task,
        architecture=Architecture(name="test_resnet", num_outputs=len(classes)),
        class_names=classes,
        preprocessing=Preprocess(40, 40, "square").to_dict(),
    )
    return save_model(folder, model, spec)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_teacher(tmp_path_factory.mktemp("teacher"), CLASSES)


def build(overrides: list[str], classes: list[str] = CLASSES, counts: list[int] = COUNTS) -> torch.nn.Module:
    cfg = config.load(None, [*STUDENT, *overrides])
    return get_task(cfg.task_name).build(cfg, classes, counts).module


def batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.randn(6, 3, 32, 32, generator=generator), "target": torch.tensor([0, 1, 2, 2, 1, 0])}


ZERO = {
    "distill_kd": ["task.kd_weight=0"],
    "distill_dkd": ["task.kd_weight=0", "task.rkd_weight=0", "task.channel_weight=0"],
    "distill_ssdkd": [
        "task.ce_weight=1",
        "task.kd_weight=0",
        "task.rotation_kd_weight=0",
        "task.ss_weight=0",
        "task.relational_weight=0",
    ],
}


@pytest.mark.parametrize("task", sorted(ZERO))
def test_all_weights_zero_but_ce_is_the_classify_task(task: str, teacher: Path) -> None:
    student = build([f"task.name={task}", f"task.teacher={teacher}", *ZERO[task]])
    plain = build(["loss.class_weights=balanced"])  # N / (C N_c): the same weighted mean as round(N / N_c, 3)
    plain.model.load_state_dict(student.model.state_dict())
    student.train(), plain.train()
    out, expected = student(batch()), plain(batch())
    torch.testing.assert_close(out["loss"], expected["loss"])
    torch.testing.assert_close(out["loss_ce"], expected["loss"])
    assert float(out["loss_kd"]) == 0.0
    out["loss"].backward()
    expected["loss"].backward()
    for (name, mine), theirs in zip(student.model.named_parameters(), plain.model.parameters(), strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad, msg=name)


def test_class_weights_are_the_rounded_inverse_frequencies(teacher: Path) -> None:
    module = build(["task.name=distill_kd", f"task.teacher={teacher}"], counts=[3, 7, 11])
    assert module.loss.class_weights.tolist() == pytest.approx([7.0, 3.0, 1.909])  # 21/3, 21/7, 21/11 rounded
    unweighted = build(["task.name=distill_kd", f"task.teacher={teacher}", "task.weighted_ce=false"])
    assert unweighted.loss.class_weights is None


def test_teacher_is_frozen_in_eval_mode_and_outside_the_optimiser(teacher: Path) -> None:
    module = build(["task.name=distill_dkd", f"task.teacher={teacher}"])
    module.train()
    assert module.model.training and not module.teacher.training
    assert not any(m.training for m in module.teacher.modules())
    assert not any(p.requires_grad for p in module.teacher.parameters())
    optimised = {id(p) for group in module.param_groups(1e-3) for p in group["params"]}
    assert not optimised & {id(p) for p in module.teacher.parameters()}
    assert {id(p) for p in [*module.model.parameters(), *module.regressor.parameters()]} == optimised
    assert module.regressor.conv.in_channels == 256 and module.regressor.conv.out_channels == 96  # student -> teacher


def test_distillation_terms_default_to_the_paper_and_validation_is_the_students_ce(teacher: Path) -> None:
    module = build(["task.name=distill_dkd", f"task.teacher={teacher}"])
    weights = module.loss.weights
    assert (weights["kd_weight"], weights["ce_weight"], weights["temperature"]) == (0.5, 0.5, 5.0)
    assert (weights["rkd_weight"], weights["dist_weight"], weights["angle_weight"]) == (1.0, 25.0, 50.0)
    assert weights["channel_weight"] == 1000.0
    module.train()
    parts = module(batch())
    assert {"loss_ce", "loss_kd", "loss_dist", "loss_angle", "loss_cr"} <= set(parts)
    module.eval()
    with torch.no_grad():
        out = module(batch())
        ce = torch.nn.functional.cross_entropy(
            module.model(batch()["image"]), batch()["target"], weight=torch.tensor([7.0, 3.5, 1.75])
        )
    torch.testing.assert_close(out["loss"], ce)
    assert not any(key.startswith("loss_") for key in out)


def test_teacher_view_renormalises_and_resizes_the_students_batch() -> None:
    student = {"image_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    teacher = {"image_size": 48, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    pixels = torch.full((2, 3, 32, 32), (0.6 - 0.5) / 0.25)  # a grey 0.6 image as the student sees it
    view = TeacherView(student, teacher)(pixels)
    assert view.shape == (2, 3, 48, 48)
    expected = torch.tensor([0.50218341, 0.64285714, 0.86222222])  # (0.6 - mean_t) / std_t by hand
    torch.testing.assert_close(view.mean(dim=(0, 2, 3)), expected)
    torch.testing.assert_close(view.amax(dim=(0, 2, 3)), view.amin(dim=(0, 2, 3)))
    same = TeacherView(student, student)
    assert same(pixels) is pixels


def test_a_sigmoid_teachers_logit_becomes_two_softmax_logits() -> None:
    torch.manual_seed(0)
    model = create_model("test_resnet", 1).eval()
    images = torch.randn(4, 3, 32, 32)
    view = TeacherView(*(2 * [{"image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}]))
    logits = FrozenTeacher(model, view, "sigmoid")(images, ["logits"])["logits"]
    with torch.no_grad():
        positive = torch.sigmoid(model(images))[:, 0]
    torch.testing.assert_close(logits.softmax(1), torch.stack([1 - positive, positive], dim=1))
