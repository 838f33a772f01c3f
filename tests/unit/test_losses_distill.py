"""dermkit.losses.distill: KD, RKD distance and angle, channel relation, D-KD (zeros, known values, gradients)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from dermkit.losses.distill import DKD_PARTS, DKDLoss, class_weights_from_counts, dkd_loss, kd_loss
from dermkit.losses.relational import ConvRegressor, channel_relation, rkd_angle, rkd_distance

# a 3-4-5 right triangle (student) and an isosceles right triangle (teacher), points in 2-D
STUDENT_POINTS = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
TEACHER_POINTS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def dkd_inputs(n: int = 4, k: int = 3, d: int = 5, c: int = 4, seed: int = 0, dtype=torch.float32) -> dict:
    """Random D-KD inputs in dkd_loss's order: logits (n, k), pooled (n, d) / (n, d + 2), maps (n, c, 2, 2)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "student_logits": torch.randn(n, k, generator=g, dtype=dtype),
        "teacher_logits": torch.randn(n, k, generator=g, dtype=dtype),
        "target": torch.arange(n) % k,
        "student_pooled": torch.randn(n, d, generator=g, dtype=dtype),
        "teacher_pooled": torch.randn(n, d + 2, generator=g, dtype=dtype),
        "student_map": torch.randn(n, c, 2, 2, generator=g, dtype=dtype),
        "teacher_map": torch.randn(n, c, 2, 2, generator=g, dtype=dtype),
    }


# --- zero where the definition says so ----------------------------------------------------------------------------


@pytest.mark.parametrize("term", [kd_loss, rkd_distance, rkd_angle])
def test_term_is_zero_when_student_equals_teacher(term) -> None:
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    assert abs(term(x.clone(), x.clone()).item()) < 1e-6


def test_channel_relation_is_zero_and_has_zero_gradient_when_maps_match() -> None:
    teacher = torch.randn(3, 4, 2, 2, generator=torch.Generator().manual_seed(2))
    student = teacher.clone().requires_grad_(True)
    loss = channel_relation(student, teacher)
    loss.backward()
    assert loss.item() < 1e-6
    assert torch.equal(student.grad, torch.zeros_like(student))  # not NaN from sqrt at 0


def test_rkd_terms_are_zero_for_a_scaled_shifted_teacher_of_another_width() -> None:
    # both terms only see the batch's shape, up to scale: 3 * teacher + 1, padded with zero columns, matches it
    teacher = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))
    student = torch.cat([3 * teacher + 1, torch.zeros(5, 4)], dim=1)
    assert rkd_distance(student, teacher).item() < 1e-6
    assert rkd_angle(student, teacher).item() < 1e-6


def test_rkd_distance_of_identical_points_is_zero_not_nan() -> None:
    same = torch.ones(3, 2)
    assert rkd_distance(same, same).item() == 0.0


# --- known values on tiny examples --------------------------------------------------------------------------------


def test_rkd_distance_known_value_on_two_triangles() -> None:
    # student distances 3, 4, 5; mean 4 -> 0.75, 1, 1.25
    # teacher distances 1, 1, sqrt 2; mean (2 + sqrt 2) / 3 = 1.1380711 -> 0.8786797, 0.8786797, 1.2426407
    # differences -0.1286797, 0.1213203, 0.0073593, each twice in the 3 x 3 matrix (diagonal 0);
    # Smooth-L1 0.5 d^2: 2 * 0.5 * (0.0165585 + 0.0147186 + 0.0000542) / 9 = 0.0034812
    assert rkd_distance(STUDENT_POINTS, TEACHER_POINTS).item() == pytest.approx(0.0034812, abs=1e-7)


def test_rkd_angle_known_value_on_two_triangles() -> None:
    # apex (0,0): 90 degrees in both (cos 0); apex (3,0): cos = 9 / 15 = 0.6 vs teacher 1/sqrt 2 = 0.7071068;
    # apex (0,4): cos = 16 / 20 = 0.8 vs 0.7071068. Each angle appears twice in the 27 entries (i, j, k), the
    # (i, j, i) entries are 1 in both and the degenerate ones 0 in both:
    # 2 * 0.5 * (0.1071068^2 + 0.0928932^2) / 27 = 0.00074448
    assert rkd_angle(STUDENT_POINTS, TEACHER_POINTS).item() == pytest.approx(0.00074448, abs=1e-7)


def test_kd_known_value_on_two_classes() -> None:
    # teacher softmax([ln 3, 0]) = [0.75, 0.25], student [0.5, 0.5]:
    # KL = 0.75 ln(0.75 / 0.5) + 0.25 ln(0.25 / 0.5) = 0.3040988 - 0.1732868 = 0.1308121
    loss = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]), temperature=1.0)
    assert loss.item() == pytest.approx(0.1308121, abs=1e-6)


def test_kd_is_scaled_by_temperature_squared() -> None:
    # teacher [2 ln 3, 0] at T = 2 softens to the same [0.75, 0.25] as above, so the loss is 2^2 * 0.1308121
    loss = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[2 * math.log(3.0), 0.0]]), temperature=2.0)
    assert loss.item() == pytest.approx(4 * 0.1308121, abs=1e-6)


def test_kd_reductions_agree_with_torch_batchmean() -> None:
    inputs = dkd_inputs(n=5)
    s, t, temp = inputs["student_logits"], inputs["teacher_logits"], 3.0
    batchmean = F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="batchmean") * temp**2
    torch.testing.assert_close(kd_loss(s, t, temp), batchmean)
    torch.testing.assert_close(kd_loss(s, t, temp, reduction="sum"), batchmean * 5)
    assert kd_loss(s, t, temp, reduction="none").shape == (5,)


def test_channel_relation_known_value() -> None:
    # one image, 2 channels of 1 x 1: G_s = [[1, 0], [0, 0]] / 2, G_t = [[0, 0], [0, 1]] / 2;
    # MSE = (0.25 + 0.25) / 4 = 0.125, sqrt = 0.3535534
    student, teacher = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1), torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)
    assert channel_relation(student, teacher).item() == pytest.approx(0.3535534, abs=1e-6)


def test_class_weights_from_counts_known_values_and_sklearn() -> None:
    # N_total / N_c rounded to 3 decimals: 10 / 3 = 3.333, 10 / 7 = 1.429; an absent class gets 0
    torch.testing.assert_close(class_weights_from_counts([3, 7, 0]), torch.tensor([3.333, 1.429, 0.0]))
    y = np.repeat([0, 1, 2], [5, 20, 11])
    balanced = compute_class_weight("balanced", classes=np.arange(3), y=y)  # N / (C N_c)
    np.testing.assert_allclose(class_weights_from_counts([5, 20, 11]).numpy(), np.round(3 * balanced, 3), atol=1e-6)


# --- gradients ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("term", [kd_loss, rkd_distance, rkd_angle])
def test_gradcheck_vector_terms(term) -> None:
    g = torch.Generator().manual_seed(4)
    student = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(4, 3, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda s: term(s, teacher), (student,))


def test_gradcheck_channel_relation() -> None:
    g = torch.Generator().manual_seed(5)
    student = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda s: channel_relation(s, teacher), (student,))


def test_gradcheck_dkd_loss() -> None:
    inputs = dkd_inputs(n=3, d=3, c=2, dtype=torch.float64)
    names = ("student_logits", "student_pooled", "student_map")
    students = tuple(inputs[name].requires_grad_(True) for name in names)

    def total(*tensors: torch.Tensor) -> torch.Tensor:
        return dkd_loss(**{**inputs, **dict(zip(names, tensors, strict=True))})["loss"]

    assert torch.autograd.gradcheck(total, students, fast_mode=True)


def test_teacher_gets_no_gradient() -> None:
    inputs = dkd_inputs()
    teachers = [inputs[name].requires_grad_(True) for name in ("teacher_logits", "teacher_pooled", "teacher_map")]
    inputs["student_logits"].requires_grad_(True)
    dkd_loss(**inputs)["loss"].backward()
    assert all(t.grad is None for t in teachers)


# --- the D-KD sum -------------------------------------------------------------------------------------------------


def test_dkd_with_only_ce_weight_is_plain_weighted_cross_entropy() -> None:
    inputs = dkd_inputs()
    weights = torch.tensor([0.5, 2.0, 1.5])
    # teacher tensors full of NaN: terms of weight 0 are not computed, so they cannot leak into the loss
    for name in ("teacher_logits", "teacher_pooled", "teacher_map"):
        inputs[name] = torch.full_like(inputs[name], float("nan"))
    parts = dkd_loss(**inputs, class_weights=weights, kd_weight=0.0, rkd_weight=0.0, channel_weight=0.0)
    expected = F.cross_entropy(inputs["student_logits"], inputs["target"], weight=weights)
    assert torch.equal(parts["loss"], expected)
    assert tuple(parts) == DKD_PARTS


def test_dkd_default_weights_are_the_papers() -> None:
    inputs = dkd_inputs()
    parts = dkd_loss(**inputs)
    # lambda 0.5, T 5 inside loss_kd, lambda_drkd 1 with w_dist 25 and w_angle 50, lambda_crkd 1000
    expected = (
        0.5 * parts["loss_ce"]
        + 0.5 * parts["loss_kd"]
        + 25 * parts["loss_dist"]
        + 50 * parts["loss_angle"]
        + 1000 * parts["loss_cr"]
    )
    torch.testing.assert_close(parts["loss"], expected)
    torch.testing.assert_close(parts["loss_kd"], kd_loss(inputs["student_logits"], inputs["teacher_logits"], 5.0))


def test_dkd_module_equals_function_and_holds_class_weights_as_buffer() -> None:
    inputs, weights = dkd_inputs(), [0.5, 2.0, 1.5]
    settings = {"kd_weight": 0.3, "ce_weight": 0.9, "temperature": 2.0, "dist_weight": 5.0, "channel_weight": 10.0}
    module = DKDLoss(weights, **settings)
    got = module(*inputs.values())
    expected = dkd_loss(**inputs, class_weights=torch.tensor(weights), **settings)
    for key in DKD_PARTS:
        torch.testing.assert_close(got[key], expected[key])
    assert "class_weights" in dict(module.named_buffers())


def test_conv_regressor_maps_student_channels_to_teacher_channels() -> None:
    out = ConvRegressor(5, 7)(torch.randn(2, 5, 3, 3))
    assert out.shape == (2, 7, 3, 3)
    assert (out >= 0).all()  # ends in ReLU


# --- bad arguments: one clear line --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0.0), "temperature must be > 0"),
        (lambda: kd_loss(torch.zeros(2, 3), torch.zeros(3, 3)), "same shape"),
        (lambda: rkd_distance(torch.zeros(3, 2), torch.zeros(4, 2)), "same batch"),
        (lambda: rkd_angle(torch.zeros(3, 2), torch.zeros(4, 2)), "same batch"),
        (lambda: channel_relation(torch.zeros(2, 3, 2, 2), torch.zeros(2, 4, 2, 2)), "same N and C"),
        (lambda: dkd_loss(**dkd_inputs(), temperature=-1.0), "temperature must be > 0"),
        (lambda: dkd_loss(**dkd_inputs(), kd_weight=1.5), "ce_weight must be >= 0"),
        (lambda: DKDLoss(temperature=0.0), "temperature must be > 0"),
        (lambda: DKDLoss(channel_weight=-1.0), "channel_weight must be >= 0"),
        (lambda: class_weights_from_counts([0, 0]), "positive total"),
    ],
)
def test_bad_arguments_raise_one_line(call, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
