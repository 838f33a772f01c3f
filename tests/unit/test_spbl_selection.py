"""SPBL's numpy steps on hand-computed examples and against brute force; state round-trip; pace validation."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.errors import ConfigError, DataError
from dermkit.tasks.spbl_selection import (
    SPBLState,
    apply_rebalance,
    check_class_coverage,
    cost_weights,
    decayed_weights,
    difficulty,
    initial_split,
    pace_weight,
    rebalance_plan,
    select,
    validate_pace,
)

# A pool of 6 samples, 3 classes; row i is p(i, .) and POOL_LABELS[i] the true class.
POOL_LABELS = np.array([0, 0, 0, 1, 1, 2])
POOL_PROBS = np.array(
    [
        [0.5, 0.3, 0.2],
        [0.7, 0.2, 0.1],
        [0.2, 0.5, 0.3],
        [0.1, 0.4, 0.5],
        [0.3, 0.3, 0.4],
        [0.2, 0.2, 0.6],
    ]
)


def _long_tail(seed: int = 0) -> np.ndarray:
    sizes = [60, 31, 15, 7, 3, 1]
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(sizes)), sizes))


def test_initial_split_takes_ceil_of_ratio_per_class() -> None:
    labels = _long_tail()
    easy, pool = initial_split(labels, 0.2, rng=np.random.default_rng(0))
    # ceil(0.2 * [60, 31, 15, 7, 3, 1]); 0.2 * 15 is 3.0000000000000004 in floats and must stay 3
    np.testing.assert_array_equal(np.bincount(labels[easy], minlength=6), [12, 7, 3, 2, 1, 1])
    assert np.intersect1d(easy, pool).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([easy, pool])), np.arange(labels.size))


def test_initial_split_is_seeded() -> None:
    labels = _long_tail()
    first = initial_split(labels, rng=np.random.default_rng(5))[0]
    np.testing.assert_array_equal(first, initial_split(labels, rng=np.random.default_rng(5))[0])
    assert not np.array_equal(first, initial_split(labels, rng=np.random.default_rng(6))[0])


def test_select_on_a_written_out_pool() -> None:
    # ratio 0.5: class 0 keeps ceil(1.5) = 2 of p = 0.5, 0.7, 0.2 -> samples 1, 0; class 1 keeps ceil(1.0) = 1 of
    # p = 0.4, 0.3 -> sample 3; class 2 keeps its only sample 5
    np.testing.assert_array_equal(select(POOL_LABELS, POOL_PROBS, 0.5), [0, 1, 3, 5])
    np.testing.assert_array_equal(select(POOL_LABELS, POOL_PROBS, 0.1), [1, 3, 5])
    np.testing.assert_array_equal(select(POOL_LABELS, POOL_PROBS, 1.0), np.arange(6))


def test_select_matches_brute_force_rank_count() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 40)
    probs = rng.dirichlet(np.ones(4), size=40)
    chosen = set(select(labels, probs, 0.6).tolist())
    for i in range(40):
        c = labels[i]
        same = [j for j in range(40) if labels[j] == c]
        higher = sum(probs[j, c] > probs[i, c] for j in same)  # no ties in continuous draws
        assert (i in chosen) == (higher < -(-len(same) * 3 // 5))  # ceil(0.6 n) in integers


def test_selection_grows_with_the_pace_and_covers_every_class() -> None:
    labels = _long_tail()
    rng = np.random.default_rng(0)
    easy, pool = initial_split(labels, rng=rng)
    probs = rng.dirichlet(np.ones(6), size=pool.size)
    previous = np.zeros(0, dtype=np.int64)
    for ratio in validate_pace([0.5, 0.75, 0.9, 1.0, 1.0]):
        chosen = select(labels[pool], probs, ratio)
        assert set(previous.tolist()) <= set(chosen.tolist())  # same scores: a larger ratio keeps every earlier pick
        check_class_coverage(labels[np.concatenate([easy, pool[chosen]])], 6)
        previous = chosen
    np.testing.assert_array_equal(previous, np.arange(pool.size))


def test_difficulty_on_a_written_out_pool() -> None:
    # selected [0, 1, 3, 5]; pool sizes n^U = [3, 2, 1]
    # H_0 = 3 * exp(-mean(-log 0.5, -log 0.7)) = 3 * sqrt(0.35) = 1.7748; H_1 = 2 * 0.4 = 0.8; H_2 = 1 * 0.6 = 0.6
    # rescaled to [1, 3]: 1 + (H - 0.6) / 1.1748 * 2 = [3.0, 1.3405, 1.0] -> ceil [3, 2, 1]
    np.testing.assert_array_equal(difficulty(POOL_LABELS, POOL_PROBS, [0, 1, 3, 5]), [3, 2, 1])


def test_cost_weights_give_the_smallest_cost_to_the_largest_h() -> None:
    h = np.array([2, 9, 5, 1])
    w = cost_weights(h, np.random.default_rng(0))
    np.testing.assert_array_equal(np.argsort(w), [1, 2, 0, 3])  # H descending: class 1, 2, 0, 3
    assert np.all((w >= 1) & (w <= 10))
    np.testing.assert_array_equal(cost_weights(h, np.random.default_rng(0), low=4, high=4), [4, 4, 4, 4])


def test_rebalance_plan_on_a_written_out_example() -> None:
    # counts sorted [1, 2, 5, 20, 300] go to classes by H descending (2, 0, 3, 4, 1): target [2, 300, 1, 5, 20]
    # raw delta [1, 295, -299, -15, 18]; 295 capped at 100; 3 * mean = 196.8: class 3 (20 < 196.8) keeps its 20,
    # class 2 (300) is cut to max(1, ceil(196.8)) = 197, delta -103
    np.testing.assert_array_equal(rebalance_plan([1, 5, 300, 20, 2], [10, 1, 50, 5, 3]), [1, 100, -103, 0, 18])


def test_apply_rebalance_duplicates_and_drops_members() -> None:
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 2, 2, 2])
    out = apply_rebalance(np.arange(10), labels, np.array([3, -2, 0]), np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(labels[out]), [5, 3, 3])
    assert set(out[labels[out] == 1].tolist()) < {2, 3, 4, 5, 6}  # 3 distinct survivors
    assert len(set(out[labels[out] == 1].tolist())) == 3
    np.testing.assert_array_equal(out[labels[out] == 2], [7, 8, 9])
    with pytest.raises(ValueError, match="class 2 has 3 samples"):
        apply_rebalance(np.arange(10), labels, np.array([0, 0, -4]), np.random.default_rng(0))


def test_pace_weight_and_decay() -> None:
    assert pace_weight(0.0) == pytest.approx(0.2)  # step 3: the easy set's weights times 0.2
    assert pace_weight(0.5) == pytest.approx(0.6)
    assert pace_weight(1.0) == pytest.approx(1.0)
    np.testing.assert_allclose(decayed_weights(np.array([1.0, 10.0]), 0.75), [0.8, 8.0])


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([0.5, 0.4], r"task.pace must be non-decreasing, but task.pace\[1\] = 0.4 < 0.5"),
        ([0.0, 0.5], r"task.pace\[0\] = 0.0 lies outside \(0, 1\]"),
        ([0.5, 1.2], r"task.pace\[1\] = 1.2 lies outside"),
        ([], "task.pace is empty"),
    ],
)
def test_validate_pace_errors(schedule: list[float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_pace(schedule)


def test_class_coverage_names_the_empty_class() -> None:
    with pytest.raises(DataError, match=r"task.pace leaves class 2 \('nevus'\) with no selected image"):
        check_class_coverage(np.array([0, 1, 1, 3]), 4, ["acne", "eczema", "nevus", "wart"])


def test_state_round_trip_reproduces_the_next_draws() -> None:
    rng = np.random.default_rng(7)
    labels = _long_tail()
    easy, pool = initial_split(labels, rng=rng)
    weights = np.array([0.2, 0.2, 1 / 3, 2.718281828459045])
    state = SPBLState(
        round_index=2,
        easy_idx=easy,
        pool_idx=pool,
        selected_idx=np.array([0, 4]),
        paced_idx=np.array([1, 1, 5, 9]),
        sample_weights=weights,
        class_weights=np.array([9.5, 1.25]),
        rng_state=rng.bit_generator.state,
    )
    restored = SPBLState.from_json(state.to_json())
    np.testing.assert_array_equal(restored.rng().permutation(50), rng.permutation(50))
    np.testing.assert_array_equal(restored.easy_idx, easy)
    np.testing.assert_array_equal(restored.pool_idx, pool)
    np.testing.assert_array_equal(restored.sample_weights, weights)  # bit-exact floats
    assert restored.round_index == 2 and restored.paced_idx.dtype == np.int64


def test_state_restores_an_mt19937_generator_and_rejects_bad_json() -> None:
    rng = np.random.Generator(np.random.MT19937(3))
    rng.random(4)
    empty = np.zeros(0, dtype=np.int64)
    state = SPBLState(0, empty, empty, empty, empty, np.zeros(0), np.ones(2), rng.bit_generator.state)
    np.testing.assert_array_equal(SPBLState.from_json(state.to_json()).rng().random(6), rng.random(6))
    with pytest.raises(ValueError, match="must hold the keys"):
        SPBLState.from_json('{"round_index": 1}')
    with pytest.raises(ValueError, match="bit generator 'seed'"):
        SPBLState(0, empty, empty, empty, empty, np.zeros(0), np.ones(2), {"bit_generator": "seed"}).rng()
