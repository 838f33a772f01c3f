"""Tests for dermkit.data.splits."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermkit.data.duplicates import exact_duplicate_groups
from dermkit.data.splits import (
    SPLIT_NAMES,
    kfold_assign,
    merge_groups,
    split_counts,
    stratified_group_split,
)
from dermkit.errors import DataError

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def _labels_100_37_9() -> list[str]:
    labels = ["nevus"] * 100 + ["melanoma"] * 37 + ["bcc"] * 9
    np.random.default_rng(3).shuffle(labels)
    return labels


def _split_of_group(groups: list, splits: list) -> dict:
    seen: dict = defaultdict(set)
    for group, split in zip(groups, splits, strict=True):
        seen[group].add(split)
    return seen


def test_ungrouped_split_is_stratified_within_one_item() -> None:
    labels = _labels_100_37_9()
    splits = stratified_group_split(labels, FRACTIONS, seed=0)
    counts = split_counts(labels, splits)
    totals = Counter(labels)
    for name, fraction in FRACTIONS.items():
        for label, total in totals.items():
            assert abs(counts[name][label] - fraction * total) < 1, (name, label, counts)


def test_stratified_within_one_item_for_many_random_cases() -> None:
    rng = np.random.default_rng(7)
    for case in range(40):
        labels = rng.integers(0, 4, size=int(rng.integers(1, 150))).tolist()
        weights = rng.dirichlet(np.ones(3))
        fractions = dict(zip(SPLIT_NAMES, weights.tolist(), strict=True))
        counts = split_counts(labels, stratified_group_split(labels, fractions, seed=case))
        for name, fraction in fractions.items():
            for label, total in Counter(labels).items():
                assert abs(counts.get(name, {}).get(label, 0) - fraction * total) < 1


def test_split_is_deterministic_and_seed_matters() -> None:
    labels = _labels_100_37_9()
    groups = [i // 3 for i in range(len(labels))]
    first = stratified_group_split(labels, FRACTIONS, groups=groups, seed=5)
    assert first == stratified_group_split(labels, FRACTIONS, groups=groups, seed=5)
    assert first != stratified_group_split(labels, FRACTIONS, groups=groups, seed=6)


def test_zero_fraction_split_gets_nothing() -> None:
    labels = _labels_100_37_9()
    splits = stratified_group_split(labels, {"train": 0.7, "val": 0.0, "test": 0.3}, seed=1)
    assert "val" not in splits
    assert set(splits) == {"train", "test"}
    assert stratified_group_split(labels, {"train": 1.0}) == ["train"] * len(labels)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 25)), min_size=1, max_size=120),
    seed=st.integers(0, 1000),
)
def test_groups_never_cross_splits(data: list[tuple[int, int]], seed: int) -> None:
    labels = [label for label, _ in data]
    groups = [f"patient{group}" for _, group in data]
    splits = stratified_group_split(labels, {"train": 0.6, "val": 0.2, "test": 0.2}, groups=groups, seed=seed)
    assert len(splits) == len(labels)
    assert set(splits) <= set(SPLIT_NAMES)
    assert all(len(s) == 1 for s in _split_of_group(groups, splits).values())


def test_small_groups_keep_split_sizes_close_to_fractions() -> None:
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 4, size=400)
    groups = np.repeat(np.arange(len(sizes)), sizes).tolist()
    labels = rng.integers(0, 3, size=len(groups)).tolist()
    splits = stratified_group_split(labels, FRACTIONS, groups=groups, seed=2)
    assert all(len(s) == 1 for s in _split_of_group(groups, splits).values())
    sizes_by_split = Counter(splits)
    for name, fraction in FRACTIONS.items():
        assert abs(sizes_by_split[name] - fraction * len(labels)) <= 0.02 * len(labels), sizes_by_split


def test_none_group_entries_are_singletons() -> None:
    labels = [0] * 50 + [1] * 50
    groups = [None] * 100
    splits = stratified_group_split(labels, FRACTIONS, groups=groups)
    assert Counter(splits) == {"train": 80, "val": 10, "test": 10}


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ({"train": 0.8, "val": 0.1}, "sum to 1"),
        ({"train": 0.8, "valid": 0.2}, "valid names: train, val, test"),
        ({"train": 1.2, "val": -0.2}, ">= 0"),
        ({"train": float("nan"), "test": 1.0}, ">= 0"),
        ({"train": "lots", "test": 1.0}, "must be a number"),
        ({}, "sum to 1"),
    ],
)
def test_bad_fractions_raise(fractions: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        stratified_group_split([0, 1, 0], fractions)


def test_bad_group_length_and_seed_raise() -> None:
    with pytest.raises(DataError, match="groups has 2 entries"):
        stratified_group_split([0, 1, 0], FRACTIONS, groups=["a", "b"])
    with pytest.raises(DataError, match="seed"):
        stratified_group_split([0, 1, 0], FRACTIONS, seed=-1)


def test_merge_groups_unions_groups_and_extra_sets() -> None:
    groups = ["p1", "p2", "p1", "p3", None, "p4", None]
    merged = merge_groups(groups, [[1, 3], [4, 6]], 7)
    assert merged == [0, 1, 0, 1, 2, 3, 2]
    assert merge_groups(None, [], 4) == [0, 1, 2, 3]
    assert merge_groups(None, [[3, 0], [2, 3]], 4) == [0, 1, 0, 0]
    with pytest.raises(DataError, match="out of range"):
        merge_groups(None, [[0, 4]], 4)
    with pytest.raises(DataError, match="3 entries"):
        merge_groups(["a", "b", "c"], [], 4)


def test_merged_duplicates_stay_in_one_split(tmp_path) -> None:
    rng = np.random.default_rng(0)
    paths, labels, patients = [], [], []
    for i in range(60):
        path = tmp_path / f"img{i}.bin"
        path.write_bytes(rng.bytes(64))
        paths.append(path)
        labels.append(i % 3)
        patients.append(f"p{i}")
    for i in range(0, 30, 3):  # copies of images under new patient ids: the same photo filed twice
        copy = tmp_path / "copies" / f"dup{i}.bin"
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(paths[i].read_bytes())
        paths.append(copy)
        labels.append(labels[i])
        patients.append(f"other{i}")
    index = {p: k for k, p in enumerate(paths)}
    same = [[index[p] for p in group] for group in exact_duplicate_groups(paths)]
    assert len(same) == 10
    groups = merge_groups(patients, same, len(paths))
    for seed in range(5):
        splits = stratified_group_split(labels, {"train": 0.5, "val": 0.25, "test": 0.25}, groups=groups, seed=seed)
        for group in same:
            assert len({splits[k] for k in group}) == 1


def test_split_counts_lists_every_class_per_split() -> None:
    counts = split_counts(["a", "b", "a", "c"], ["test", "train", "train", "train"])
    assert list(counts) == ["train", "test"]
    assert counts == {"train": {"a": 1, "b": 1, "c": 1}, "test": {"a": 1, "b": 0, "c": 0}}
    with pytest.raises(DataError):
        split_counts([0, 1], ["train"])


def test_kfold_every_item_once_and_balanced() -> None:
    labels = _labels_100_37_9()
    folds = kfold_assign(labels, 5, seed=3)
    assert len(folds) == len(labels)
    assert set(folds) == set(range(5))
    counts = split_counts(labels, folds)
    for label, total in Counter(labels).items():
        per_fold = [counts[f][label] for f in range(5)]
        assert sum(per_fold) == total
        assert max(per_fold) - min(per_fold) <= 1, (label, per_fold)
        if total >= 5:
            assert min(per_fold) >= 1
    fold_sizes = Counter(folds).values()
    assert max(fold_sizes) - min(fold_sizes) <= 1
    assert folds == kfold_assign(labels, 5, seed=3)


def test_kfold_with_groups_keeps_groups_and_covers_classes() -> None:
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(150), rng.integers(1, 4, size=150)).tolist()
    labels = [g % 4 for g in groups]  # one class per patient
    folds = kfold_assign(labels, 4, groups=groups, seed=1)
    assert all(len(s) == 1 for s in _split_of_group(groups, folds).values())
    counts = split_counts(labels, folds)
    assert all(counts[f][c] > 0 for f in range(4) for c in range(4))


def test_kfold_bad_arguments_raise() -> None:
    with pytest.raises(DataError, match="n_folds"):
        kfold_assign([0, 1, 0], 1)
    with pytest.raises(DataError, match="2 groups"):
        kfold_assign([0, 1, 0, 1], 3, groups=["a", "a", "b", "b"])
