"""Bad teacher input for the distillation tasks: one line naming the option, raised before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dermkit import config
from dermkit.cli import main
from dermkit.data.synthetic import make_synthetic_dataset
from dermkit.errors import ConfigError
from dermkit.losses.rotations import ProjectionHead
from dermkit.models import create_model
from dermkit.models.artifact import load_model, save_model
from dermkit.models.spec import Architecture, ModelSpec
from dermkit.tasks.distill_teacher import FrozenTeacher, TeacherView
from dermkit.tasks.distill_training import TeacherWithHead
from tests.unit.test_distill_tasks import CLASSES, COUNTS, STUDENT, build, save_teacher


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("teachers")
    teacher = save_teacher(root / "teacher", CLASSES, seed=0)
    other = save_teacher(root / "other", CLASSES, seed=1)
    (root / "notes.txt").write_text("not a model")
    (root / "broken").mkdir()
    (root / "broken" / "model.json").write_text("{not json")
    # an SSD-KD stage-1 folder: the teacher and a projection head of its pooled width (96 for test_resnet)
    model, _ = load_model(teacher)
    view = TeacherView(*(2 * [{"image_size": 40, "mean": [0.5] * 3, "std": [0.5] * 3}]))
    stage1 = TeacherWithHead(FrozenTeacher(model, view), ProjectionHead(96))
    spec = ModelSpec(
        task="ssdkd_teacher_head",
        architecture=Architecture(name="test_resnet", num_outputs=3),
        class_names=CLASSES,
        preprocessing={"image_size": 40, "resize": 40},
    )
    save_model(root / "stage1", stage1, spec)
    return {
        "teacher": teacher,
        "other": other,
        "notes": root / "notes.txt",
        "broken": root / "broken",
        "stage1": root / "stage1",
        "missing": root / "nowhere",
    }


CASES = [
    ("distill_kd", [], None, "task.teacher is not set; pass task.teacher=PATH"),
    ("distill_kd", ["task.teacher={notes}"], None, "task.teacher: .*notes.txt: not a dermkit model"),
    ("distill_kd", ["task.teacher={broken}"], None, r"task.teacher: .*model.json: not valid JSON"),
    ("distill_kd", ["task.teacher={missing}"], None, "task.teacher: .*nowhere: no such model file or folder"),
    (
        "distill_dkd",
        ["task.teacher={teacher}"],
        ["a", "b", "x"],
        r"task.teacher: the teacher's classes \(a, b, c\) differ from the data's \(a, b, x\)",
    ),
    (
        "distill_dkd",
        ["task.teacher={teacher}"],
        ["b", "a", "c"],
        r"\(a, b, c\) are the data's in another order \(b, a, c\); set data.class_names=\[a,b,c\]",
    ),
    (
        "distill_dkd",
        ["task.teacher={teacher}", "task.teacher_map=layer9"],
        None,
        "task.teacher_map: unknown feature stage 'layer9' for model 'test_resnet'; valid: act1, layer1, layer2, "
        "layer3, layer4, last_map, avg_pool, logits",
    ),
    (
        "distill_dkd",
        ["task.teacher={teacher}", "task.student_pooled=blocks.9"],
        None,
        "task.student_pooled: unknown feature stage 'blocks.9' for model 'test_efficientnet'; valid: blocks.0",
    ),
    (
        "distill_dkd",
        ["task.teacher={teacher}", "task.teacher_map=avg_pool"],
        None,
        r"task.teacher_map: stage 'avg_pool' is not a feature map \(N, C, H, W\); choose one of: act1, .*last_map$",
    ),
    ("distill_dkd", ["task.teacher={stage1}"], None, "task.teacher: .*stage1 is an SSD-KD stage-1 run"),
    ("distill_kd", ["task.teacher={teacher}", "loss.name=focal"], None, "loss: task 'distill_kd' builds its own loss"),
    ("distill_ssdkd", ["task.teacher={teacher}"], None, "task.teacher_head is not set; pass task.teacher_head=PATH"),
    (
        "distill_ssdkd",
        ["task.teacher={teacher}", "task.teacher_head={teacher}"],
        None,
        "task.teacher_head: .*teacher is a 'classify' model, not an SSD-KD stage-1 run",
    ),
    (
        "distill_ssdkd",
        ["task.teacher={other}", "task.teacher_head={stage1}"],
        None,
        "task.teacher_head: .*stage1 was trained on another teacher than task.teacher",
    ),
    ("ssdkd_teacher_head", ["task.teacher={notes}"], None, "task.teacher: .*notes.txt: not a dermkit model"),
]


@pytest.mark.parametrize(("task", "options", "classes", "message"), CASES)
def test_bad_teacher_input_is_one_line(folders, task: str, options: list[str], classes, message: str) -> None:
    overrides = [f"task.name={task}", *(option.format(**folders) for option in options)]
    with pytest.raises(ConfigError, match=message) as error:
        build(overrides, classes or CLASSES, COUNTS)
    assert "\n" not in str(error.value)


def test_the_stage1_head_is_read_back_for_its_own_teacher(folders) -> None:
    module = build(
        ["task.name=distill_ssdkd", f"task.teacher={folders['teacher']}", f"task.teacher_head={folders['stage1']}"]
    )
    assert module.teacher.head is not None and not any(p.requires_grad for p in module.teacher.head.parameters())
    assert module.student_head is not None and all(p.requires_grad for p in module.student_head.parameters())
    optimised = {id(p) for group in module.param_groups(1e-3) for p in group["params"]}
    assert not optimised & {id(p) for p in module.teacher.parameters()}


def test_an_unknown_task_option_names_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"task.temprature: unknown option of task 'distill_kd'; valid: .*temperature"
    ):
        config.load(None, [*STUDENT, "task.name=distill_kd", "task.temprature=3"])


def test_train_stops_before_training_on_a_teacher_of_other_classes(tmp_path: Path, folders, capsys) -> None:
    make_synthetic_dataset(tmp_path / "data", ("benign", "malignant"), per_class=8, size=32, seed=0)
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "demo",
            f"data.root={tmp_path / 'data'}",
            *STUDENT,
            "task.name=distill_kd",
            f"task.teacher={folders['teacher']}",
            "trainer.progress_bar=false",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: task.teacher: the teacher's classes (a, b, c) differ from the data's")
    assert not (out / "config.yaml").exists() and not list(out.glob("*.ckpt")) and not (out / "logs").exists()


def test_a_teacher_that_is_not_a_classifier_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    two_heads = create_model("test_resnet", 3, heads={"grade": 3, "count": 5})
    spec = ModelSpec(
        task="acne_ldl",
        outputs=["grade_logits", "count_logits"],
        architecture=Architecture(name="test_resnet", num_outputs=5, heads={"grade": 3, "count": 5}),
        class_names=CLASSES,
        preprocessing={"image_size": 40, "resize": 40},
    )
    save_model(tmp_path / "acne", two_heads, spec)
    with pytest.raises(ConfigError, match="is a 'acne_ldl' model with outputs grade_logits, count_logits; a teacher"):
        build(["task.name=distill_kd", f"task.teacher={tmp_path / 'acne'}"])
