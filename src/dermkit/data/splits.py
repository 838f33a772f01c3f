"""Patient-aware, class-stratified train/val/test splits and k-fold assignment.

Both :func:`stratified_group_split` and :func:`kfold_assign` use the same deterministic greedy: the groups (patients,
lesions, or single images when no group is known) are shuffled with the seed, stable-sorted by size so the large ones
are placed while there is still room, and each group goes to the split whose per-class shortfall against its target
(``fraction * class count``) the group fills best. For ungrouped data this keeps every class within one item of its
exact stratified share in every split; with groups, no group ever straddles two splits.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

from dermkit.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


def merge_groups(groups: Sequence[Hashable] | None, same_items: Iterable[Sequence[int]], n: int) -> list[int]:
    """Combine group ids with extra sets of items that must stay together (union-find).

    Args:
        groups: one group id per item (e.g. patient id), or None for one group per item. A ``None`` entry means
            "unknown": that item is not tied to any other item by its group id.
        same_items: sets of item indices that must land in the same split, e.g. byte-identical files.
        n: the number of items.

    Returns:
        A group index per item, numbered 0, 1, 2... in order of each group's first item.

    Raises:
        DataError: if ``groups`` does not have ``n`` entries or an index in ``same_items`` is out of range.
    """
    if n < 0:
        raise DataError(f"number of items must be >= 0, got {n}")
    if groups is not None and len(groups) != n:
        raise DataError(f"groups has {len(groups)} entries but there are {n} items")
    parent = list(range(n))

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            nxt = parent[i]
            parent[i] = root
            i = nxt
        return root

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:  # the smaller index becomes the root, so the result does not depend on merge order
            parent[max(ra, rb)] = min(ra, rb)

    if groups is not None:
        first_item: dict[Hashable, int] = {}
        for i, group in enumerate(groups):
            if group is None:
                continue
            j = first_item.setdefault(group, i)
            if j != i:
                union(j, i)
    for items in same_items:
        indices = list(items)
        for i in indices:
            if not isinstance(i, int | np.integer) or not 0 <= i < n:
                raise DataError(f"item index {i!r} in same_items is out of range for {n} items")
        for i in indices[1:]:
            union(int(indices[0]), int(i))
    numbering: dict[int, int] = {}
    return [numbering.setdefault(find(i), len(numbering)) for i in range(n)]


def stratified_group_split(
    labels: Sequence[int | str],
    fractions: Mapping[str, float],
    *,
    groups: Sequence[Hashable] | None = None,
    seed: int = 0,
) -> list[str]:
    """Assign each item to ``train``, ``val`` or ``test``, stratified by class and never splitting a group.

    Args:
        labels: one class label per item.
        fractions: share of items per split, e.g. ``{"train": 0.85, "val": 0.05, "test": 0.1}``; names from
            :data:`SPLIT_NAMES`, values >= 0 summing to 1. Missing or zero-fraction splits receive no items.
        groups: one group id per item (patient, lesion); all items of a group land in the same split. ``None``
            (or a ``None`` entry) treats the item as its own group.
        seed: seed of the shuffle; the same inputs and seed always give the same split.

    Returns:
        A split name per item.

    Raises:
        DataError: if the fractions are invalid or ``groups`` has the wrong length.
    """
    weights = _check_fractions(fractions)
    n = len(labels)
    if groups is not None and len(groups) != n:
        raise DataError(f"groups has {len(groups)} entries but there are {n} labels")
    if n == 0:
        return []
    classes = _encode(labels)
    group_ids = np.asarray(merge_groups(groups, (), n), dtype=np.int64)
    bins = _greedy_assign(classes, group_ids, weights, _check_seed(seed))
    return [SPLIT_NAMES[b] for b in bins.tolist()]


def kfold_assign(
    labels: Sequence[int | str],
    n_folds: int,
    *,
    groups: Sequence[Hashable] | None = None,
    seed: int = 0,
) -> list[int]:
    """Stratified, group-aware k-fold assignment.

    Every group lands in exactly one fold and each class is spread as evenly over the folds as the groups allow;
    without groups, every class with at least ``n_folds`` items appears in every fold.

    Args:
        labels: one class label per item.
        n_folds: number of folds (>= 2).
        groups: one group id per item, or None for one group per item.
        seed: seed of the shuffle.

    Returns:
        A fold index in ``range(n_folds)`` per item.

    Raises:
        DataError: if ``n_folds`` < 2, ``groups`` has the wrong length, or there are fewer groups than folds.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise DataError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    n = len(labels)
    if groups is not None and len(groups) != n:
        raise DataError(f"groups has {len(groups)} entries but there are {n} labels")
    group_ids = np.asarray(merge_groups(groups, (), n), dtype=np.int64)
    n_groups = int(group_ids.max()) + 1 if n else 0
    if n_groups < n_folds:
        raise DataError(f"cannot make {n_folds} folds from {n_groups} groups: some folds would be empty")
    weights = np.full(int(n_folds), 1.0 / int(n_folds))
    return _greedy_assign(_encode(labels), group_ids, weights, _check_seed(seed)).tolist()


def split_counts(labels: Sequence[Hashable], splits: Sequence[Hashable]) -> dict[Hashable, dict[Hashable, int]]:
    """Count items per split and class, for printing.

    Args:
        labels: one class label per item.
        splits: one split name (or fold index) per item.

    Returns:
        ``{split: {label: count}}``; splits in :data:`SPLIT_NAMES` order first, then any others; every split lists
        every class, with zero counts included.

    Raises:
        DataError: if the two sequences differ in length.
    """
    if len(labels) != len(splits):
        raise DataError(f"{len(labels)} labels but {len(splits)} split assignments")
    split_keys = [s for s in SPLIT_NAMES if s in set(splits)]
    split_keys += _ordered(s for s in splits if s not in SPLIT_NAMES)
    class_keys = _ordered(labels)
    counts = {s: dict.fromkeys(class_keys, 0) for s in split_keys}
    for label, split in zip(labels, splits, strict=True):
        counts[split][label] += 1
    return counts


def _check_fractions(fractions: Mapping[str, float]) -> np.ndarray:
    """Validate ``fractions`` and return one weight per name in :data:`SPLIT_NAMES`."""
    weights = np.zeros(len(SPLIT_NAMES))
    for name, value in fractions.items():
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r} in fractions; valid names: {', '.join(SPLIT_NAMES)}")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise DataError(f"fraction for split {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise DataError(f"fraction for split {name!r} must be >= 0, got {value!r}")
        weights[SPLIT_NAMES.index(name)] = weight
    total = float(weights.sum())
    if abs(total - 1.0) > 1e-6:
        raise DataError(f"split fractions must sum to 1, got {total:g} from {dict(fractions)}")
    return weights


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _encode(values: Sequence[Hashable]) -> np.ndarray:
    """Map values to codes 0, 1, 2... in order of first appearance."""
    codes: dict[Hashable, int] = {}
    return np.asarray([codes.setdefault(v, len(codes)) for v in values], dtype=np.int64)


def _ordered(values: Iterable[Hashable]) -> list[Hashable]:
    """Distinct values, sorted when they are comparable, else in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def _greedy_assign(classes: np.ndarray, group_ids: np.ndarray, weights: np.ndarray, seed: int) -> np.ndarray:
    """Place whole groups into bins so each class is spread over the bins in proportion to ``weights``.

    Args:
        classes: class code per item (0..C-1).
        group_ids: group code per item (0..G-1).
        weights: target share per bin; bins with weight 0 receive nothing.
        seed: seed of the group shuffle.

    Returns:
        The bin index per item.
    """
    n_classes = int(classes.max()) + 1
    n_groups = int(group_ids.max()) + 1
    # Sparse (group, class) -> count table, sorted by group, with each group's slice bounds.
    pairs, pair_counts = np.unique(group_ids * n_classes + classes, return_counts=True)
    pair_group, pair_class = pairs // n_classes, pairs % n_classes
    starts = np.searchsorted(pair_group, np.arange(n_groups + 1))
    sizes = np.bincount(group_ids, minlength=n_groups)

    active = np.flatnonzero(weights > 0)
    active_weights = weights[active]
    targets = active_weights[:, None] * np.bincount(classes, minlength=n_classes)[None, :].astype(float)
    current = np.zeros_like(targets)
    size_targets = active_weights * len(classes)
    size_current = np.zeros(len(active))

    shuffled = np.random.default_rng(seed).permutation(n_groups)
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    group_bin = np.empty(n_groups, dtype=np.int64)
    for g in order.tolist():
        cls = pair_class[starts[g] : starts[g + 1]]
        cnt = pair_counts[starts[g] : starts[g + 1]].astype(float)
        # Drop in squared shortfall when the group is added: sum_c cnt * (deficit - cnt / 2). For a single item this
        # ranks bins exactly by deficit; for a large group it penalises bins the group would overfill.
        score = ((targets[:, cls] - current[:, cls] - cnt / 2) * cnt).sum(axis=1).tolist()
        room = (size_targets - size_current).tolist()
        best = max(range(len(active)), key=lambda s: (score[s], room[s], active_weights[s], -s))
        current[best, cls] += cnt
        size_current[best] += sizes[g]
        group_bin[g] = active[best]
    return group_bin[group_ids]
