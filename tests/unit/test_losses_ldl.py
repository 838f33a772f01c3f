"""dermkit.losses.ldl: count bins, grade ranges, LDL / LDS target distributions, the KL term and the joint loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dermkit.losses.ldl import (
    LDLLoss,
    bin_to_count,
    block_ranges,
    count_to_bin,
    distribution_kl,
    gaussian_distribution,
    grade_ranges,
    group_sum,
    ldl_loss,
    lds_epsilon,
    nest_ranges,
    smoothed_distribution,
)

HAYASHI = [(0, 4), (5, 19), (20, 49), (50, 64)]
# METHODS.md section 2(a): the LDS epsilon over the 65 count bins, eps_min 0.6, eps_max 1.0, written out
DOWN_7 = [1.0, 0.943, 0.886, 0.829, 0.771, 0.714, 0.657, 0.6]  # step 0.4 / 7
DOWN_14 = [1.0, 0.971, 0.943, 0.914, 0.886, 0.857, 0.829, 0.8, 0.771, 0.743, 0.714, 0.686, 0.657, 0.629, 0.6]
METHODS_EPSILON = [
    *[0.6, 0.7, 0.8, 0.9, 1.0],  # grade 0, bins 0..4
    *DOWN_7,
    *DOWN_7[-2::-1],  # grade 1, bins 5..19, minimum at bin 12
    *DOWN_14,
    *DOWN_14[::-1],  # grade 2, bins 20..49, minimum at bins 34 and 35
    *DOWN_14,  # grade 3, bins 50..64
]
# counts, their bins and Hayashi grades (count <= 5, <= 20, <= 50, > 50), and their LDS five-count blocks
COUNTS = torch.tensor([1, 5, 6, 20, 21, 50, 51, 80])
GRADES = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
BLOCKS = torch.tensor([0, 0, 1, 3, 4, 9, 10, 12])

# a small problem for gradcheck: 12 bins, grades (0,1) (2,3) (4,7) (8,11), LDS-like blocks of 2 bins
SMALL = grade_ranges((2, 4, 8), 12)
SMALL_BLOCKS = block_ranges(12, 2)


def logits(n: int, k: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- bins and ranges ------------------------------------------------------------------------------------------------


def test_count_to_bin_clips_zero_and_large_counts_and_inverts() -> None:
    assert count_to_bin(torch.tensor([0, 1, 5, 6, 65, 66, 200]), 65).tolist() == [0, 0, 4, 5, 64, 64, 64]
    assert bin_to_count(torch.tensor([0, 4, 64])).tolist() == [1, 5, 65]


def test_hayashi_ranges_blocks_and_block_to_grade_mapping() -> None:
    assert grade_ranges((5, 20, 50), 65) == HAYASHI
    blocks = block_ranges(65, 5)
    assert len(blocks) == 13 and blocks[0] == (0, 4) and blocks[1] == (5, 9) and blocks[-1] == (60, 64)
    assert nest_ranges(blocks, HAYASHI) == [(0, 0), (1, 3), (4, 9), (10, 12)]
    assert nest_ranges(HAYASHI, HAYASHI) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert block_ranges(7, 3) == [(0, 2), (3, 5), (6, 6)]


def test_count_to_grade_sums_match_hand_example() -> None:
    dist = torch.zeros(1, 65)
    dist[0, [4, 5, 49, 50]] = torch.tensor([0.1, 0.2, 0.3, 0.4])  # counts 5, 6, 50, 51
    torch.testing.assert_close(group_sum(dist, HAYASHI), torch.tensor([[0.1, 0.2, 0.3, 0.4]]))
    blocks = group_sum(dist, block_ranges(65, 5))
    assert blocks.shape == (1, 13)
    torch.testing.assert_close(blocks[0, [0, 1, 9, 10]], torch.tensor([0.1, 0.2, 0.3, 0.4]))
    assert float(blocks.sum()) == pytest.approx(1.0)
    blocks_to_grades = nest_ranges(block_ranges(65, 5), HAYASHI)
    torch.testing.assert_close(group_sum(blocks, blocks_to_grades), torch.tensor([[0.1, 0.2, 0.3, 0.4]]))


# --- target distributions -------------------------------------------------------------------------------------------


def test_gaussian_distribution_hand_example() -> None:
    # exp(-1/2) / (1 + 2 exp(-1/2)) and 1 / (1 + 2 exp(-1/2))
    expected = torch.tensor([[0.274068619061197, 0.45186276187760605, 0.274068619061197]], dtype=torch.float64)
    torch.testing.assert_close(gaussian_distribution(torch.tensor([1]), 3, 1.0, dtype=torch.float64), expected)


@pytest.mark.parametrize("sigma", [0.0, 0.5, 3.0, 10.0])
def test_targets_sum_to_one_and_peak_at_the_true_bin(sigma: float) -> None:
    bins = torch.tensor([0, 7, 12, 34, 35, 64])
    gauss = gaussian_distribution(bins, 65, sigma)
    smooth = smoothed_distribution(bins, lds_epsilon(HAYASHI, 65), sigma, 65)
    for dist in (gauss, smooth):
        assert dist.shape == (6, 65) and bool((dist >= 0).all())
        torch.testing.assert_close(dist.sum(dim=1), torch.ones(6))
        assert dist.argmax(dim=1).tolist() == bins.tolist()


def test_sigma_zero_is_exactly_one_hot_and_tiny_sigma_approaches_it() -> None:
    bins = torch.tensor([0, 30, 64])
    assert torch.equal(gaussian_distribution(bins, 65, 0.0), F.one_hot(bins, 65).float())
    torch.testing.assert_close(gaussian_distribution(bins, 65, 1e-3), F.one_hot(bins, 65).float())


def test_lds_epsilon_equals_the_65_values_of_methods_md() -> None:
    assert len(METHODS_EPSILON) == 65
    eps = lds_epsilon(grade_ranges((5, 20, 50), 65), 65, eps_min=0.6, eps_max=1.0)
    torch.testing.assert_close(eps, torch.tensor(METHODS_EPSILON), atol=1e-3, rtol=0)
    assert eps[12] == pytest.approx(0.6) and eps[34] == pytest.approx(0.6) and eps[35] == pytest.approx(0.6)


def test_smoothed_distribution_mixes_one_hot_and_gaussian_by_epsilon() -> None:
    bins = torch.tensor([3, 12])  # epsilon 0.9 at bin 3, 0.6 at bin 12
    smooth = smoothed_distribution(bins, lds_epsilon(HAYASHI, 65), 3.0, 65)
    gauss = gaussian_distribution(bins, 65, 3.0)
    assert float(smooth[0, 3]) == pytest.approx(0.1 + 0.9 * float(gauss[0, 3]), abs=1e-6)
    assert float(smooth[1, 13]) == pytest.approx(0.6 * float(gauss[1, 13]), abs=1e-6)


# --- the KL term ----------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_distribution_kl_is_k_times_torch_kldivloss_element_mean() -> None:
    probs = logits(5, 13, 0).softmax(dim=1)
    target = gaussian_distribution(torch.tensor([0, 3, 6, 9, 12]), 13, 3.0)
    expected = 13 * torch.nn.KLDivLoss()(torch.log(probs + 1e-4), target)
    torch.testing.assert_close(distribution_kl(probs, target), expected)
    rows = F.kl_div(torch.log(probs + 1e-4), target, reduction="none").sum(dim=1)
    torch.testing.assert_close(distribution_kl(probs, target, reduction="none"), rows)
    torch.testing.assert_close(distribution_kl(probs, target, reduction="sum"), rows.sum())


def test_distribution_kl_mask_drops_rows_and_all_masked_is_zero_with_a_gradient() -> None:
    probs = logits(4, 6, 1).softmax(dim=1)
    target = gaussian_distribution(torch.tensor([0, 1, 2, 3]), 6, 1.0)
    mask = torch.tensor([True, False, True, False])
    rows = distribution_kl(probs, target, reduction="none")
    torch.testing.assert_close(distribution_kl(probs, target, mask=mask), rows[mask].mean())
    torch.testing.assert_close(distribution_kl(probs, target, mask=mask, reduction="none"), rows * mask)
    x = logits(4, 6, 2).requires_grad_()
    loss = distribution_kl(x.softmax(dim=1), target, mask=torch.zeros(4, dtype=torch.bool))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(x.grad, torch.zeros(4, 6))


# --- the joint loss -------------------------------------------------------------------------------------------------


def test_ldl_with_sigma_zero_equals_cross_entropy_on_one_hot_targets() -> None:
    grade_logits, count_logits = logits(8, 4, 3), logits(8, 65, 4)
    out = ldl_loss(grade_logits, count_logits, COUNTS, GRADES, lam=0.6, sigma=0.0, ranges=HAYASHI, eps=0.0)
    grouped = torch.stack([count_logits[:, a : b + 1].logsumexp(dim=1) for a, b in HAYASHI], dim=1)
    torch.testing.assert_close(out["loss_count"], F.cross_entropy(count_logits, COUNTS.clamp(max=65) - 1))
    torch.testing.assert_close(out["loss_grade"], F.cross_entropy(grade_logits, GRADES))
    torch.testing.assert_close(out["loss_count2grade"], F.cross_entropy(grouped, GRADES))
    expected = 0.6 * 0.5 * (out["loss_grade"] + out["loss_count2grade"]) + 0.4 * out["loss_count"]
    torch.testing.assert_close(out["loss"], expected)


def test_lds_with_sigma_zero_equals_cross_entropy_on_blocks() -> None:
    grade_logits, count_logits = logits(8, 13, 5), logits(8, 65, 6)
    out = ldl_loss(
        grade_logits,
        count_logits,
        COUNTS,
        GRADES,
        lam=0.3,
        sigma=0.0,
        ranges=HAYASHI,
        head_ranges=block_ranges(65, 5),
        smoothing_epsilon=lds_epsilon(HAYASHI, 65),
        eps=0.0,
    )
    torch.testing.assert_close(out["loss_grade"], F.cross_entropy(grade_logits, BLOCKS))
    torch.testing.assert_close(out["loss_count"], F.cross_entropy(count_logits, COUNTS.clamp(max=65) - 1))


def test_rows_without_a_count_are_masked_from_the_count_loss_and_graded_by_their_grade() -> None:
    count = torch.tensor([3, -1, 30, -1])
    grade = torch.tensor([0, 2, 2, 3])
    grade_logits, count_logits = logits(4, 13, 7), logits(4, 65, 8)
    kw = {"lam": 0.3, "sigma": 3.0, "ranges": HAYASHI, "head_ranges": block_ranges(65, 5), "eps": 0.0}
    out = ldl_loss(grade_logits, count_logits, count, grade, **kw)
    changed = count_logits.clone()
    changed[[1, 3]] = 100 * logits(2, 65, 9)
    assert torch.equal(ldl_loss(grade_logits, changed, count, grade, **kw)["loss_count"], out["loss_count"])
    subset = ldl_loss(grade_logits[[0, 2]], count_logits[[0, 2]], count[[0, 2]], grade[[0, 2]], **kw)
    torch.testing.assert_close(out["loss_count"], subset["loss_count"])
    # a row without a count: the head's blocks summed into grades against the one-hot grade (blocks 4-9 = grade 2)
    rows = ldl_loss(grade_logits, count_logits, count, grade, **kw, reduction="none")
    assert float(rows["loss_count"][1]) == 0.0
    expected = -torch.log(grade_logits[1].softmax(dim=0)[4:10].sum())
    torch.testing.assert_close(rows["loss_grade"][1], expected)
    expected = -torch.log(count_logits[3].softmax(dim=0)[50:].sum())  # grade 3 from the counting head
    torch.testing.assert_close(rows["loss_count2grade"][3], expected)


def test_a_batch_without_any_count_has_zero_count_loss_and_finite_gradients() -> None:
    grade_logits, count_logits = logits(3, 4, 10).requires_grad_(), logits(3, 65, 11).requires_grad_()
    out = ldl_loss(
        grade_logits, count_logits, torch.full((3,), -1), torch.tensor([0, 1, 3]), lam=0.6, sigma=3.0, ranges=HAYASHI
    )
    out["loss"].backward()
    assert float(out["loss_count"].detach()) == 0.0
    assert bool(torch.isfinite(grade_logits.grad).all() and torch.isfinite(count_logits.grad).all())


@pytest.mark.parametrize("lds", [False, True], ids=["ldl", "lds"])
def test_ldl_loss_gradcheck_float64(lds: bool) -> None:
    count, grade = torch.tensor([1, 4, 9, -1]), torch.tensor([0, 1, 2, 3])
    head = SMALL_BLOCKS if lds else SMALL
    eps = lds_epsilon(SMALL, 12).double() if lds else None
    grade_logits = logits(4, len(head), 12, torch.float64).requires_grad_()
    count_logits = logits(4, 12, 13, torch.float64).requires_grad_()

    def parts(g: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = ldl_loss(g, c, count, grade, lam=0.4, sigma=1.5, ranges=SMALL, head_ranges=head, smoothing_epsilon=eps)
        return out["loss"], out["loss_grade"], out["loss_count"], out["loss_count2grade"]

    assert torch.autograd.gradcheck(parts, (grade_logits, count_logits))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("lds", [False, True], ids=["ldl", "lds"])
def test_module_equals_function_and_reduction_shapes(reduction: str, lds: bool) -> None:
    count, grade = torch.tensor([1, 4, 9, 20, -1, 7]), torch.tensor([0, 1, 2, 3, 2, 2])
    kw = {"head_ranges": SMALL_BLOCKS, "smoothing_epsilon": lds_epsilon(SMALL, 12)} if lds else {}
    grade_logits, count_logits = logits(6, 6 if lds else 4, 14), logits(6, 12, 15)
    module = LDLLoss(SMALL, lam=0.3, sigma=2.0, reduction=reduction, **kw)
    got = module(grade_logits, count_logits, count, grade)
    expected = ldl_loss(
        grade_logits, count_logits, count, grade, lam=0.3, sigma=2.0, ranges=SMALL, reduction=reduction, **kw
    )
    assert set(got) == {"loss", "loss_grade", "loss_count", "loss_count2grade"}
    for name, value in got.items():
        assert value.shape == ((6,) if reduction == "none" else ())
        torch.testing.assert_close(value, expected[name])
    if reduction == "none":  # the mean divides the count part by the rows that have a count
        mean = ldl_loss(grade_logits, count_logits, count, grade, lam=0.3, sigma=2.0, ranges=SMALL, **kw)
        torch.testing.assert_close(mean["loss_grade"], got["loss_grade"].mean())
        torch.testing.assert_close(mean["loss_count"], got["loss_count"].sum() / 5)


def test_module_keeps_the_smoothing_weights_as_a_buffer() -> None:
    module = LDLLoss(HAYASHI, block_ranges(65, 5), lam=0.3, smoothing_epsilon=lds_epsilon(HAYASHI, 65))
    assert "smoothing_epsilon" in dict(module.named_buffers())
    assert LDLLoss(HAYASHI).smoothing_epsilon is None


# --- bad arguments --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": -1.0}, "sigma must be >= 0"),
        ({"lam": 1.5}, "lam must be in"),
        ({"lam": -0.1}, "lam must be in"),
        ({"eps": -1e-4}, "eps must be >= 0"),
        ({"reduction": "avg"}, "unknown reduction"),
        ({"ranges": [(0, 4), (5, 19), (20, 49), (50, 63)]}, "cover bins 0..63 but there are 65"),
        ({"ranges": [(0, 4), (6, 64)]}, "range 1 is"),
        ({"head_ranges": block_ranges(65, 4)}, "straddle"),
    ],
)
def test_bad_loss_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    args = {"lam": 0.6, "sigma": 3.0, "ranges": HAYASHI, **kwargs}
    with pytest.raises(ValueError, match=message):
        ldl_loss(
            logits(2, 4 if "head_ranges" not in kwargs else 17, 0),
            logits(2, 65, 1),
            torch.tensor([3, 8]),
            torch.tensor([0, 1]),
            **args,
        )
    module_args = {k: v for k, v in args.items() if k != "ranges"}
    if "ranges" not in kwargs:
        with pytest.raises(ValueError, match=message):
            LDLLoss(HAYASHI, **module_args)


def test_bad_shapes_counts_grades_and_boundaries_raise() -> None:
    kw = {"lam": 0.6, "sigma": 3.0, "ranges": HAYASHI}
    with pytest.raises(ValueError, match=r"grade_logits \(N, 4\)"):
        ldl_loss(logits(2, 13, 0), logits(2, 65, 1), torch.tensor([3, 8]), torch.tensor([0, 1]), **kw)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        ldl_loss(logits(2, 4, 0), logits(2, 65, 1), torch.tensor([3, -2]), torch.tensor([0, 1]), **kw)
    with pytest.raises(ValueError, match=r"need a grade in 0\.\.3"):
        ldl_loss(logits(2, 4, 0), logits(2, 65, 1), torch.tensor([3, -1]), torch.tensor([0, 4]), **kw)
    for boundaries in [(5, 5, 50), (0, 20), (5, 20, 65), (20, 5)]:
        with pytest.raises(ValueError, match=r"grade boundaries must increase strictly within 1\.\.64"):
            grade_ranges(boundaries, 65)
    with pytest.raises(ValueError, match="eps_min <= eps_max"):
        lds_epsilon(HAYASHI, 65, eps_min=0.8, eps_max=0.5)
    with pytest.raises(ValueError, match="bins must be a 1-D tensor"):
        gaussian_distribution(torch.tensor([65]), 65, 3.0)
    with pytest.raises(ValueError, match=r"epsilon must be \(65,\)"):
        smoothed_distribution(torch.tensor([1]), torch.full((64,), 0.5), 3.0, 65)
