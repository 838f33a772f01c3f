"""The class-imbalance losses: focal, class-balanced, logit-adjusted / balanced softmax, LDAM-DRW and GHM-C.

Each reduces to torch's cross-entropy where the paper says it should, matches a small example computed by hand,
equals its module twin under every reduction and passes a float64 gradcheck. Registry, options and errors:
``test_loss_options.py``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dermkit.losses import (
    ClassBalancedLoss,
    FocalLoss,
    GHMCLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    class_balanced_loss,
    class_prior,
    create_loss,
    effective_number_weights,
    focal_loss,
    ghm_c_loss,
    ldam_loss,
    ldam_margins,
    logit_adjusted_loss,
)

COUNTS = [40, 12, 5, 1]
WEIGHT = torch.tensor([1.0, 2.0, 0.5, 3.0])


def inputs(n: int = 8, c: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=generator, dtype=dtype), torch.arange(n) % c


def ghm_example(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    # sigmoid(ln 3) = 0.75, sigmoid(-ln 3) = 0.25, sigmoid(ln(7/13)) = 0.35: every gradient norm sits inside a bin
    ln3, ln713 = math.log(3), math.log(7 / 13)
    return torch.tensor([[ln3, -ln3, ln713], [ln3, ln3, -ln3]], dtype=dtype), torch.tensor([0, 1])


# GHM-C by hand for ghm_example, bins = 10. One-hot targets [[1,0,0],[0,1,0]], so the gradient norms
# g = |sigmoid - y| are [[0.25, 0.25, 0.35], [0.75, 0.25, 0.25]]: bin 2 holds 4 logits, bins 3 and 7 one each,
# n = 3 bins filled, N = 6 logits. beta = N / R_j / n: bin 2 -> 0.5, bins 3 and 7 -> 2.
# BCE = -ln(1 - g): -ln 0.75 = 0.2876821, -ln 0.65 = 0.4307829, -ln 0.25 = 1.3862944.
# mean = (4 * 0.5 * 0.2876821 + 2 * 0.4307829 + 2 * 1.3862944) / 6 = 0.70158645
GHM_TERMS = [[0.14384104, 0.14384104, 0.86156583], [2.77258872, 0.14384104, 0.14384104]]
GHM_MEAN = 0.70158645

# LDAM by hand: counts [16, 1] -> n^(-1/4) = [1/2, 1] -> margins scaled to max_m = 0.5: [0.25, 0.5].
# logits [[1, 0], [0, 1]], targets [0, 1], s = 2: s * (x - m_y onehot) = [[1.5, 0], [0, 1]];
# CE = ln(1 + e^-1.5) = 0.20141328 and ln(1 + e^-1) = 0.31326169; mean 0.25733748.
# DRW with beta = 0.5: (1 - b) / (1 - b^n) = [32768/65535, 1], normalised to sum 2: [65536/98303, 131070/98303];
# weighted mean (65536 * 0.20141328 + 131070 * 0.31326169) / 196606 = 0.27597851.
LDAM_LOGITS = [[1.0, 0.0], [0.0, 1.0]]
LDAM_MEAN, LDAM_DRW_MEAN = 0.25733748, 0.27597851


def make(name: str, **options: object) -> torch.nn.Module:
    return create_loss(name, len(COUNTS), class_counts=COUNTS, **options)


# --- reduces to cross-entropy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_with_gamma_zero_is_cross_entropy(reduction: str) -> None:
    logits, target = inputs()
    expected = F.cross_entropy(logits, target, reduction=reduction)
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0, reduction=reduction), expected)


def test_focal_with_gamma_zero_and_weights_is_the_plain_mean_of_weighted_cross_entropy() -> None:
    logits, target = inputs()
    expected = (F.cross_entropy(logits, target, reduction="none") * WEIGHT[target]).mean()
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0, weight=WEIGHT), expected)


def test_class_balanced_with_beta_zero_is_cross_entropy() -> None:
    logits, target = inputs()
    torch.testing.assert_close(class_balanced_loss(logits, target, COUNTS, beta=0.0), F.cross_entropy(logits, target))
    torch.testing.assert_close(make("class_balanced", beta=0.0)(logits, target), F.cross_entropy(logits, target))


def test_balanced_softmax_with_uniform_priors_is_cross_entropy() -> None:
    logits, target = inputs()
    loss = create_loss("balanced_softmax", 4, class_counts=[7, 7, 7, 7])
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target))


def test_logit_adjusted_with_tau_zero_is_cross_entropy() -> None:
    logits, target = inputs()
    torch.testing.assert_close(make("logit_adjusted", tau=0.0)(logits, target), F.cross_entropy(logits, target))


# --- small examples computed by hand -------------------------------------------------------------------------------


def test_focal_down_weights_by_one_minus_p_to_the_gamma() -> None:
    # logits [0, ln 3] -> p_0 = 1/4; (1 - 1/4)^2 * -ln(1/4) = 0.5625 * 1.3862944 = 0.77979058
    logits = torch.tensor([[0.0, math.log(3)]])
    assert focal_loss(logits, torch.tensor([0]), gamma=2.0).item() == pytest.approx(0.77979058, abs=1e-6)


def test_effective_number_weights_by_hand() -> None:
    # beta 0.5, counts [2, 1]: 0.5 / 0.75 = 2/3 and 0.5 / 0.5 = 1, normalised to sum 2 -> [0.8, 1.2]
    torch.testing.assert_close(effective_number_weights([2, 1], 0.5), torch.tensor([0.8, 1.2]))
    torch.testing.assert_close(effective_number_weights([2, 0, 1], 0.5), torch.tensor([0.8, 0.0, 1.2]))


def test_class_balanced_takes_the_plain_mean_of_weighted_terms() -> None:
    # equal logits: every CE term is ln 2; both targets are class 1 (weight 1.2 above) -> 1.2 ln 2 = 0.83177662
    loss = class_balanced_loss(torch.zeros(2, 2), torch.tensor([1, 1]), [2, 1], beta=0.5)
    assert loss.item() == pytest.approx(0.83177662, abs=1e-6)


def test_logit_adjustment_adds_the_log_prior_by_hand() -> None:
    # counts [3, 1] -> prior [0.75, 0.25]; equal logits become [ln 0.75, ln 0.25]: p_1 = 0.25, loss ln 4 = 1.3862944
    loss = logit_adjusted_loss(torch.zeros(1, 2), torch.tensor([1]), class_prior([3, 1]))
    assert loss.item() == pytest.approx(1.3862944, abs=1e-6)
    half = logit_adjusted_loss(torch.zeros(1, 2), torch.tensor([1]), class_prior([3, 1]), tau=0.5)
    # tau 0.5: logits [0.5 ln 0.75, 0.5 ln 0.25] -> p_1 = sqrt(.25) / (sqrt(.75) + sqrt(.25)) = 0.3660254
    assert half.item() == pytest.approx(-math.log(0.3660254), abs=1e-6)


def test_ldam_margins_and_loss_by_hand() -> None:
    torch.testing.assert_close(ldam_margins([16, 1], max_m=0.5), torch.tensor([0.25, 0.5]))
    torch.testing.assert_close(ldam_margins([16, 0, 1], max_m=0.5), torch.tensor([0.25, 0.0, 0.5]))
    loss = ldam_loss(torch.tensor(LDAM_LOGITS), torch.tensor([0, 1]), ldam_margins([16, 1]), s=2.0)
    assert loss.item() == pytest.approx(LDAM_MEAN, abs=1e-6)


def test_ldam_drw_switches_the_class_weights_on_at_drw_epoch() -> None:
    loss = LDAMLoss([16, 1], max_m=0.5, s=2.0, drw_epoch=2, beta=0.5)
    logits, target = torch.tensor(LDAM_LOGITS), torch.tensor([0, 1])
    for epoch, weighted in [(0, False), (1, False), (2, True), (5, True), (0, False)]:
        loss.set_epoch(epoch)
        assert (loss.weight is not None) == weighted
        assert loss(logits, target).item() == pytest.approx(LDAM_DRW_MEAN if weighted else LDAM_MEAN, abs=1e-6)
    torch.testing.assert_close(loss.drw_weight, torch.tensor([65536 / 98303, 131070 / 98303]))


def test_ldam_without_drw_epoch_never_reweights() -> None:
    loss = LDAMLoss([16, 1])
    loss.set_epoch(1000)
    assert loss.weight is None


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ghm_c_matches_the_hand_computed_example(reduction: str) -> None:
    logits, target = ghm_example()
    out = ghm_c_loss(logits, target, bins=10, reduction=reduction)
    expected = {"none": torch.tensor(GHM_TERMS), "mean": torch.tensor(GHM_MEAN), "sum": torch.tensor(6 * GHM_MEAN)}
    torch.testing.assert_close(out, expected[reduction])


def test_ghm_c_momentum_uses_the_moving_average_in_training_only() -> None:
    # S starts at 0: after one batch S = 0.25 R (weights x4), after two S = 0.75 * 0.25 R + 0.25 R = 0.4375 R
    logits, target = ghm_example()
    loss = GHMCLoss(bins=10, momentum=0.75)
    assert loss(logits, target).item() == pytest.approx(4 * GHM_MEAN, abs=1e-5)
    assert loss(logits, target).item() == pytest.approx(GHM_MEAN / 0.4375, abs=1e-5)
    density = loss.bin_density.clone()
    assert loss.eval()(logits, target).item() == pytest.approx(GHM_MEAN, abs=1e-6)
    torch.testing.assert_close(loss.bin_density, density)


def test_ghm_c_rejects_bin_counts_that_are_zero_where_a_logit_falls() -> None:
    logits, target = ghm_example()
    with pytest.raises(ValueError, match="bin_counts must hold 10 values"):
        ghm_c_loss(logits, target, bin_counts=torch.zeros(10))


# --- modules, reductions, gradients -------------------------------------------------------------------------------

PAIRS = {
    "focal": (
        lambda r: FocalLoss(2.0, WEIGHT, r),
        lambda x, y, r: focal_loss(x, y, gamma=2.0, weight=WEIGHT, reduction=r),
    ),
    "class_balanced": (
        lambda r: ClassBalancedLoss(COUNTS, 0.99, 1.0, r),
        lambda x, y, r: class_balanced_loss(x, y, COUNTS, beta=0.99, gamma=1.0, reduction=r),
    ),
    "logit_adjusted": (
        lambda r: LogitAdjustedLoss(COUNTS, 0.7, r),
        lambda x, y, r: logit_adjusted_loss(x, y, class_prior(COUNTS), tau=0.7, reduction=r),
    ),
    "ldam": (
        lambda r: LDAMLoss(COUNTS, 0.4, 10.0, reduction=r),
        lambda x, y, r: ldam_loss(x, y, ldam_margins(COUNTS, 0.4), s=10.0, reduction=r),
    ),
    "ghm_c": (lambda r: GHMCLoss(10, reduction=r), lambda x, y, r: ghm_c_loss(x, y, bins=10, reduction=r)),
}


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_module_equals_function_and_reductions_have_their_shapes(name: str, reduction: str) -> None:
    module, function = PAIRS[name]
    logits, target = inputs(n=6)
    out = module(reduction)(logits, target)
    torch.testing.assert_close(out, function(logits, target, reduction))
    per_item = function(logits, target, "none")
    assert per_item.shape == ((6, 4) if name == "ghm_c" else (6,))  # GHM-C: one term per logit
    if reduction == "sum":
        torch.testing.assert_close(out, per_item.sum())


GRADCHECK = {
    "focal": lambda x, y: focal_loss(x, y, gamma=2.0, weight=WEIGHT),
    "class_balanced": lambda x, y: class_balanced_loss(x, y, COUNTS, beta=0.999, gamma=0.5),
    "logit_adjusted": lambda x, y: logit_adjusted_loss(x, y, class_prior(COUNTS), tau=1.5),
    "ldam": lambda x, y: ldam_loss(x, y, ldam_margins(COUNTS), s=5.0, weight=WEIGHT),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_loss_passes_gradcheck_in_float64(name: str) -> None:
    logits, target = inputs(n=5, dtype=torch.float64)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: GRADCHECK[name](x, target), (logits,))


def test_ghm_c_passes_gradcheck_in_float64() -> None:
    logits, target = ghm_example(torch.float64)  # gradient norms mid-bin: a small step moves no logit across an edge
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: ghm_c_loss(x, target), (logits,))
