"""dermkit.losses.ssdkd: rotated views, the stage-1 contrastive loss, view selection and the stage-2 SSD-KD loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dermkit.losses.rotations import (
    ProjectionHead,
    SSContrastiveLoss,
    rotation_views,
    split_views,
    ss_contrastive_loss,
    view_rotations,
    view_sources,
)
from dermkit.losses.ssdkd import SSDKD_PARTS, SSDKDLoss, keep_by_rank, rank_errors, ssdkd_loss

TEACHER_NAMES = ("teacher_logits", "teacher_embedding", "teacher_pooled", "teacher_map")
ONLY_CE = {"ce_weight": 1.0, "kd_weight": 0.0, "rotation_kd_weight": 0.0, "ss_weight": 0.0, "relational_weight": 0.0}


def ssdkd_inputs(n: int = 3, k: int = 3, seed: int = 0, dtype=torch.float32, map_size=(2, 2)) -> dict:
    """Random SSD-KD inputs in ssdkd_loss's order for n images (4n views), k classes."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    v = 4 * n
    return {
        "student_logits": rand(v, k),
        "teacher_logits": rand(v, k),
        "target": torch.arange(n) % k,
        "student_embedding": rand(v, 3),
        "teacher_embedding": rand(v, 4),
        "student_pooled": rand(v, 3),
        "teacher_pooled": rand(v, 5),
        "student_map": rand(v, 2, *map_size),
        "teacher_map": rand(v, 2, *map_size),
    }


def student_like_teacher(inputs: dict) -> dict:
    same = dict(inputs)
    for name in TEACHER_NAMES:
        same[name.replace("teacher", "student")] = inputs[name].clone()
    return same


# --- rotated views ------------------------------------------------------------------------------------------------


def test_rotation_views_known_2x2_image() -> None:
    image = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    views = rotation_views(image)[:, 0]
    # 0, 90, 180 and 270 degrees anticlockwise
    expected = torch.tensor([[[1, 2], [3, 4]], [[2, 4], [1, 3]], [[4, 3], [2, 1]], [[3, 1], [4, 2]]]).float()
    assert torch.equal(views, expected)


def test_rotating_each_view_back_recovers_its_source_image() -> None:
    images = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    views = rotation_views(images)
    assert views.shape == (12, 3, 8, 8)
    for row, (turns, source) in enumerate(zip(view_rotations(3), view_sources(3), strict=True)):
        assert torch.equal(torch.rot90(views[row], -int(turns), dims=(1, 2)), images[source])


def test_view_index_helpers_are_view_major() -> None:
    assert view_rotations(2).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert view_sources(2).tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    plain, rotated = split_views(torch.arange(8))
    assert plain.tolist() == [0, 1] and rotated.tolist() == [2, 3, 4, 5, 6, 7]


# --- stage 1: which image is this view from? ----------------------------------------------------------------------


def test_ss_contrastive_is_low_when_views_match_their_source_and_high_when_shuffled() -> None:
    plain = torch.eye(3)
    matching = plain.repeat(3, 1)  # every rotated view embedded like its own image: cosines one-hot on the source
    shuffled = plain.roll(1, dims=0).repeat(3, 1)  # every view embedded like another image
    # -log(e / (e + 2)) = log(1 + 2 / e) = 0.5514437 and -log(1 / (e + 2)) = log(e + 2) = 1.5514437
    assert ss_contrastive_loss(matching, plain).item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)
    assert ss_contrastive_loss(shuffled, plain).item() == pytest.approx(math.log(math.e + 2), abs=1e-6)


def test_gradcheck_ss_contrastive() -> None:
    g = torch.Generator().manual_seed(1)
    rotated = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    plain = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ss_contrastive_loss, (rotated, plain))


def test_projection_head_keeps_the_width() -> None:
    assert ProjectionHead(6)(torch.randn(4, 6)).shape == (4, 6)


# --- view selection -----------------------------------------------------------------------------------------------

SCORES = torch.tensor([[3.0, 1, 0], [0, 1, 2], [1, 3, 2], [2, 2, 1], [0, 2, 1]])
TARGETS = torch.tensor([0, 0, 2, 0, 2])


def test_rank_errors_count_classes_scored_above_the_target() -> None:
    # row 3 ties its target with another class: nothing scores strictly above it, so it counts as ranked first
    assert rank_errors(SCORES, TARGETS).tolist() == [0, 2, 1, 0, 1]


@pytest.mark.parametrize(
    ("ratio", "kept"),
    [(0.0, [0, 3]), (0.5, [0, 2, 3]), (0.75, [0, 2, 3, 4]), (1.0, [0, 1, 2, 3, 4])],
)
def test_keep_by_rank_keeps_correct_rows_and_the_least_wrong_share(ratio: float, kept: list[int]) -> None:
    # wrong rows 1 (error 2), 2 and 4 (error 1): floor(3 * ratio) of them, smallest error first, earlier row on ties
    assert keep_by_rank(SCORES, TARGETS, ratio).tolist() == kept


def test_rotated_kd_keeps_only_views_the_teacher_gets_right_when_ratio_tf_is_0() -> None:
    inputs = student_like_teacher(ssdkd_inputs(n=2, k=3))
    inputs["target"] = torch.tensor([0, 1])
    teacher = torch.full((8, 3), -1.0)
    teacher[torch.arange(8), view_sources(2)] = 2.0  # class of image 0 is 0, of image 1 is 1: right on every view
    teacher[6:, 2] = 5.0  # ... but the 270-degree views are wrong
    student = teacher.clone()
    student[6:] = 0.0  # the student differs from the teacher only on those two views
    inputs["teacher_logits"], inputs["student_logits"] = teacher, student
    assert ssdkd_loss(**inputs, ratio_tf=0.0)["loss_kd_rot"].item() == 0.0
    assert ssdkd_loss(**inputs, ratio_tf=1.0)["loss_kd_rot"].item() > 0.01


def test_similarity_kd_keeps_only_views_the_teacher_places_right_when_ratio_ss_is_0() -> None:
    inputs = student_like_teacher(ssdkd_inputs(n=2))
    teacher = torch.eye(2)[view_sources(2)]  # views 0..7 embedded like their source image
    teacher[6:] = teacher[6:].flip(1)  # ... but the 270-degree views look like the other image
    student = teacher.clone()
    student[6:] = 1.0  # the student differs from the teacher only on those two views
    inputs["teacher_embedding"], inputs["student_embedding"] = teacher, student
    assert ssdkd_loss(**inputs, ratio_ss=0.0)["loss_ss"].item() == 0.0
    assert ssdkd_loss(**inputs, ratio_ss=0.75)["loss_ss"].item() > 0.01


# --- stage 2: the SSD-KD sum --------------------------------------------------------------------------------------


def test_ssdkd_distillation_terms_are_zero_when_student_equals_teacher() -> None:
    parts = ssdkd_loss(**student_like_teacher(ssdkd_inputs()))
    for key in ("loss_kd", "loss_kd_rot", "loss_ss", "loss_relational"):
        assert abs(parts[key].item()) < 1e-6, key
    torch.testing.assert_close(parts["loss"], 0.1 * parts["loss_ce"])


def test_ssdkd_with_only_ce_weight_is_plain_weighted_cross_entropy_on_unrotated_views() -> None:
    inputs, weights = ssdkd_inputs(), torch.tensor([0.5, 2.0, 1.5])
    for name in TEACHER_NAMES:
        inputs[name] = torch.full_like(inputs[name], float("nan"))
    parts = ssdkd_loss(**inputs, class_weights=weights, **ONLY_CE)
    expected = F.cross_entropy(inputs["student_logits"][:3], inputs["target"], weight=weights)
    assert torch.equal(parts["loss"], expected)
    assert tuple(parts) == SSDKD_PARTS


def test_ssdkd_default_weights_are_the_papers() -> None:
    parts = ssdkd_loss(**ssdkd_inputs())
    expected = (
        0.1 * parts["loss_ce"]
        + 0.9 * parts["loss_kd"]
        + 2.7 * parts["loss_kd_rot"]
        + 10 * parts["loss_ss"]
        + 1 * parts["loss_relational"]
    )
    torch.testing.assert_close(parts["loss"], expected)


def test_gradcheck_ssdkd_loss() -> None:
    inputs = ssdkd_inputs(n=2, dtype=torch.float64, map_size=(1, 2))
    names = ("student_logits", "student_embedding", "student_pooled", "student_map")
    students = tuple(inputs[name].requires_grad_(True) for name in names)

    def total(*tensors: torch.Tensor) -> torch.Tensor:
        return ssdkd_loss(**{**inputs, **dict(zip(names, tensors, strict=True))}, ratio_ss=0.5)["loss"]

    assert torch.autograd.gradcheck(total, students, fast_mode=True)


def test_ssdkd_module_equals_function() -> None:
    inputs, weights = ssdkd_inputs(), [0.5, 2.0, 1.5]
    settings = {"temperature": 2.0, "ratio_ss": 0.5, "ss_weight": 3.0, "channel_weight": 10.0}
    module = SSDKDLoss(weights, **settings)
    got = module(*inputs.values())
    expected = ssdkd_loss(**inputs, class_weights=torch.tensor(weights), **settings)
    for key in SSDKD_PARTS:
        torch.testing.assert_close(got[key], expected[key])
    assert "class_weights" in dict(module.named_buffers())


# --- bad arguments: one clear line --------------------------------------------------------------------------------


def _short_batch() -> None:
    inputs = ssdkd_inputs()
    inputs["target"] = torch.tensor([0, 1])
    ssdkd_loss(**inputs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (_short_batch, "expected 4 views x 2 images = 8"),
        (lambda: ssdkd_loss(**ssdkd_inputs(), ss_temperature=0.0), "temperature must be > 0"),
        (lambda: ssdkd_loss(**ssdkd_inputs(), ratio_tf=1.5), "ratio_tf must be in"),
        (lambda: SSDKDLoss(temperature=-1.0), "temperature must be > 0"),
        (lambda: SSDKDLoss(ss_weight=-1.0), "ss_weight must be >= 0"),
        (lambda: keep_by_rank(SCORES, TARGETS, -0.1), "keep_ratio must be in"),
        (lambda: rotation_views(torch.zeros(1, 3, 4, 6)), "square"),
        (lambda: split_views(torch.zeros(7, 2)), "not 4 views"),
        (lambda: ss_contrastive_loss(torch.zeros(5, 2), torch.zeros(2, 2)), r"rotated \(3N, d\)"),
    ],
)
def test_bad_arguments_raise_one_line(call, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ss_contrastive_module_equals_the_function(reduction: str) -> None:
    generator = torch.Generator().manual_seed(4)
    rotated, plain = torch.randn(6, 5, generator=generator), torch.randn(2, 5, generator=generator)
    module = SSContrastiveLoss(reduction)(rotated, plain)
    torch.testing.assert_close(module, ss_contrastive_loss(rotated, plain, reduction))
    assert module.shape == ((6,) if reduction == "none" else ())
