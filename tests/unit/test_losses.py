"""dermkit.losses: cross-entropy and binary cross-entropy, functions, modules and ``create_loss``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from dermkit.losses import (
    LOSSES,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    balanced_class_weights,
    binary_cross_entropy,
    create_loss,
    cross_entropy,
    num_outputs,
)
from dermkit.registry import RegistryError


def ce_inputs(n: int = 8, c: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=generator, dtype=dtype)
    target = torch.arange(n) % c
    return logits, target


def bce_inputs(n: int = 8, seed: int = 0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=generator, dtype=dtype), torch.arange(n) % 2


# --- module == function -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_module_equals_function(reduction: str) -> None:
    logits, target = ce_inputs()
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    module = CrossEntropyLoss(weight, label_smoothing=0.1, reduction=reduction)
    expected = cross_entropy(logits, target, weight=weight, label_smoothing=0.1, reduction=reduction)
    torch.testing.assert_close(module(logits, target), expected)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_binary_cross_entropy_module_equals_function(reduction: str) -> None:
    logits, target = bce_inputs()
    module = BinaryCrossEntropyLoss(pos_weight=2.5, reduction=reduction)
    expected = binary_cross_entropy(logits, target, pos_weight=torch.tensor(2.5), reduction=reduction)
    torch.testing.assert_close(module(logits, target), expected)


# --- reductions ----------------------------------------------------------------------------------------------------


def test_cross_entropy_reductions_have_expected_shapes_and_sum_is_mean_times_n() -> None:
    logits, target = ce_inputs(n=6)
    none = cross_entropy(logits, target, reduction="none")
    mean = cross_entropy(logits, target, reduction="mean")
    total = cross_entropy(logits, target, reduction="sum")
    assert none.shape == (6,)
    assert mean.shape == () and total.shape == ()
    torch.testing.assert_close(total, mean * 6)
    torch.testing.assert_close(none.mean(), mean)


def test_binary_cross_entropy_reductions_have_expected_shapes_and_sum_is_mean_times_n() -> None:
    logits, target = bce_inputs(n=6)
    none = binary_cross_entropy(logits, target, reduction="none")
    mean = binary_cross_entropy(logits, target, reduction="mean")
    total = binary_cross_entropy(logits, target, reduction="sum")
    assert none.shape == (6,)
    assert mean.shape == () and total.shape == ()
    torch.testing.assert_close(total, mean * 6)


def test_binary_cross_entropy_accepts_n_by_1_logits() -> None:
    logits, target = bce_inputs()
    torch.testing.assert_close(
        binary_cross_entropy(logits[:, None], target, reduction="none"),
        binary_cross_entropy(logits, target, reduction="none"),
    )


# --- known values --------------------------------------------------------------------------------------------------


def test_cross_entropy_without_smoothing_is_mean_negative_log_softmax_of_target() -> None:
    logits, target = ce_inputs()
    expected = -torch.log_softmax(logits, dim=1)[torch.arange(len(target)), target].mean()
    torch.testing.assert_close(cross_entropy(logits, target, label_smoothing=0.0), expected)


def test_cross_entropy_label_smoothing_mixes_uniform_target() -> None:
    logits, target = ce_inputs(c=4)
    eps = 0.2
    log_p = torch.log_softmax(logits, dim=1)
    soft = torch.full_like(log_p, eps / 4)
    soft[torch.arange(len(target)), target] += 1 - eps
    expected = -(soft * log_p).sum(dim=1).mean()
    torch.testing.assert_close(cross_entropy(logits, target, label_smoothing=eps), expected)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_on_one_logit_equals_ce_on_logits_zero_and_z(reduction: str) -> None:
    z, target = bce_inputs(n=10)
    two_logits = torch.stack([torch.zeros_like(z), z], dim=1)
    torch.testing.assert_close(
        binary_cross_entropy(z, target, reduction=reduction),
        cross_entropy(two_logits, target, reduction=reduction),
    )


def test_weighted_cross_entropy_is_weighted_mean_of_per_sample_losses() -> None:
    logits, target = ce_inputs(n=9, c=3)
    weight = torch.tensor([0.5, 2.0, 1.5])
    per_sample = -torch.log_softmax(logits, dim=1)[torch.arange(9), target]
    w = weight[target]
    expected = (w * per_sample).sum() / w.sum()
    torch.testing.assert_close(cross_entropy(logits, target, weight=weight), expected)


def test_weighted_cross_entropy_casts_weight_to_logits_dtype() -> None:
    logits, target = ce_inputs(dtype=torch.float64)
    out = cross_entropy(logits, target, weight=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert out.dtype == torch.float64


def test_pos_weight_scales_only_positive_terms() -> None:
    z, target = bce_inputs(n=10)
    plain = binary_cross_entropy(z, target, reduction="none")
    weighted = binary_cross_entropy(z, target, pos_weight=torch.tensor(3.0), reduction="none")
    positive = target == 1
    torch.testing.assert_close(weighted[positive], 3.0 * plain[positive])
    torch.testing.assert_close(weighted[~positive], plain[~positive])


# --- balanced weights ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("counts", [[10, 30, 60], [5, 5], [1, 2, 3, 94], [7]])
def test_balanced_class_weights_match_sklearn(counts: list[int]) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    expected = compute_class_weight("balanced", classes=np.arange(len(counts)), y=y)
    np.testing.assert_allclose(balanced_class_weights(counts).numpy(), expected, rtol=1e-6)


def test_balanced_class_weights_give_zero_to_an_empty_class_and_sklearn_values_to_the_rest() -> None:
    counts = [10, 0, 30]
    weights = balanced_class_weights(counts)
    assert weights[1] == 0
    y = np.repeat([0, 2], [10, 30])
    expected = compute_class_weight("balanced", classes=np.array([0, 2]), y=y)
    np.testing.assert_allclose(weights[[0, 2]].numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("counts", [[], [0, 0], [3, -1], [[1, 2]]])
def test_balanced_class_weights_reject_bad_counts(counts: list) -> None:
    with pytest.raises(ValueError, match="class_counts"):
        balanced_class_weights(counts)


# --- gradcheck ------------------------------------------------------------------------------------------------------


def test_cross_entropy_passes_gradcheck_in_float64() -> None:
    logits, target = ce_inputs(n=5, c=3, dtype=torch.float64)
    logits.requires_grad_(True)
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda x: cross_entropy(x, target, weight=weight, label_smoothing=0.1), (logits,), eps=1e-6, atol=1e-4
    )


def test_binary_cross_entropy_passes_gradcheck_in_float64() -> None:
    z, target = bce_inputs(n=6, dtype=torch.float64)
    z.requires_grad_(True)
    pos_weight = torch.tensor(2.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda x: binary_cross_entropy(x, target, pos_weight=pos_weight), (z,), eps=1e-6, atol=1e-4
    )


# --- bad arguments -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["ce", "bce"])
def test_unknown_reduction_raises_listing_the_choices(fn: str) -> None:
    with pytest.raises(ValueError, match=r"unknown reduction 'avg'.*none, mean, sum"):
        if fn == "ce":
            cross_entropy(*ce_inputs(), reduction="avg")
        else:
            binary_cross_entropy(*bce_inputs(), reduction="avg")


@pytest.mark.parametrize("module", [CrossEntropyLoss, BinaryCrossEntropyLoss])
def test_loss_modules_reject_unknown_reduction_at_construction(module: type) -> None:
    with pytest.raises(ValueError, match="unknown reduction"):
        module(reduction="avg")


@pytest.mark.parametrize(
    ("logits_shape", "target_shape"), [((8,), (8,)), ((8, 3), (7,)), ((8, 3), (8, 3)), ((2, 4, 3), (2,))]
)
def test_cross_entropy_rejects_wrong_shapes_naming_them(logits_shape: tuple, target_shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"cross_entropy expects logits \(N, C\)"):
        cross_entropy(torch.zeros(logits_shape), torch.zeros(target_shape, dtype=torch.long))


@pytest.mark.parametrize(("logits_shape", "target_shape"), [((8, 2), (8,)), ((8,), (7,)), ((8, 1), (8, 1))])
def test_binary_cross_entropy_rejects_wrong_shapes_naming_them(logits_shape: tuple, target_shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"binary_cross_entropy expects logits \(N,\) or \(N, 1\)"):
        binary_cross_entropy(torch.zeros(logits_shape), torch.zeros(target_shape))


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, 1.5])
def test_label_smoothing_out_of_range_raises(smoothing: float) -> None:
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        cross_entropy(*ce_inputs(), label_smoothing=smoothing)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        create_loss("ce", 4, label_smoothing=smoothing)


def test_cross_entropy_weight_of_wrong_length_raises() -> None:
    with pytest.raises(ValueError, match="weight has shape"):
        cross_entropy(*ce_inputs(c=4), weight=torch.ones(3))


def test_bce_for_three_classes_raises_suggesting_ce() -> None:
    with pytest.raises(ValueError, match=r"exactly two classes.*has 3.*loss.name=ce"):
        create_loss("bce", 3)


def test_bce_rejects_label_smoothing() -> None:
    with pytest.raises(ValueError, match="label_smoothing"):
        create_loss("bce", 2, label_smoothing=0.1)


def test_class_weights_of_wrong_length_raise() -> None:
    with pytest.raises(ValueError, match="class_weights has 2 values for 3 classes"):
        create_loss("ce", 3, class_weights=[1.0, 2.0])


def test_balanced_class_counts_of_wrong_length_raise() -> None:
    with pytest.raises(ValueError, match="class_counts has 2 values for 3 classes"):
        create_loss("ce", 3, class_weights="balanced", class_counts=[4, 5])


def test_balanced_without_class_counts_raises() -> None:
    with pytest.raises(ValueError, match="needs class_counts"):
        create_loss("ce", 3, class_weights="balanced")


def test_balanced_bce_with_an_empty_class_raises_instead_of_an_infinite_pos_weight() -> None:
    with pytest.raises(ValueError, match="positive weight for both classes"):
        create_loss("bce", 2, class_weights="balanced", class_counts=[0, 5])


# --- create_loss / num_outputs / buffers --------------------------------------------------------------------------


def test_create_loss_unknown_name_lists_valid_names() -> None:
    with pytest.raises(RegistryError, match=r"unknown loss 'focal_x'.*bce.*ce") as info:
        create_loss("focal_x", 2)
    for name in LOSSES.names():
        assert name in str(info.value)


def test_create_loss_ignores_none_keyword_values() -> None:
    loss = create_loss("ce", 3, class_weights=None, class_counts=None, label_smoothing=None)
    assert isinstance(loss, CrossEntropyLoss)
    assert loss.weight is None and loss.label_smoothing == 0.0


def test_num_outputs_is_one_for_bce_and_num_classes_for_ce() -> None:
    assert num_outputs(create_loss("bce", 2), 2) == 1
    assert num_outputs(create_loss("ce", 2), 2) == 2
    assert num_outputs(create_loss("ce", 7), 7) == 7


def test_balanced_ce_weights_are_a_buffer_in_state_dict_and_move_with_to() -> None:
    loss = create_loss("ce", 3, class_weights="balanced", class_counts=[10, 20, 70])
    torch.testing.assert_close(loss.weight, balanced_class_weights([10, 20, 70]))
    assert "weight" in loss.state_dict()
    assert "weight" in dict(loss.named_buffers())
    assert not list(loss.parameters())
    assert loss.to(torch.float64).weight.dtype == torch.float64


def test_balanced_bce_pos_weight_is_negatives_over_positives_and_a_buffer() -> None:
    loss = create_loss("bce", 2, class_weights="balanced", class_counts=[90, 10])
    assert isinstance(loss, BinaryCrossEntropyLoss)
    assert float(loss.pos_weight) == pytest.approx(9.0)
    assert "pos_weight" in loss.state_dict()
    assert loss.to(torch.float64).pos_weight.dtype == torch.float64


def test_explicit_class_weights_reach_the_ce_module() -> None:
    loss = create_loss("ce", 3, class_weights=[1.0, 2.0, 3.0])
    torch.testing.assert_close(loss.weight, torch.tensor([1.0, 2.0, 3.0]))


def test_loss_forward_does_not_mutate_buffers() -> None:
    loss = create_loss("ce", 4, class_weights="balanced", class_counts=[1, 2, 3, 4])
    before = loss.weight.clone()
    logits, target = ce_inputs(c=4)
    loss(logits.requires_grad_(True), target).backward()
    torch.testing.assert_close(loss.weight, before)
