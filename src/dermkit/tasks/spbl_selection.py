"""The numpy steps of self-paced balance learning (SPBL): selection, difficulty, costs, re-balancing, pace.

Yang, Wu et al., "Self-paced balance learning for clinical skin disease recognition", IEEE Transactions on Neural
Networks and Learning Systems, 2019. The steps follow the reference code's algorithm as METHODS.md section 3 states
it; the CNN rounds and the SVM fit (``dermkit.models.svm``) are driven by the SPBL task. Every random draw comes from
a ``np.random.Generator`` passed in, so a seeded run (and a run resumed from :class:`SPBLState`) is reproducible.

Conventions: labels are int class indices ``0..C-1``; ``pool_probs`` is (n_pool, C) with column c for class c; all
returned indices are int64 and sorted ascending. Counts that the method defines as ``ceil(ratio * n)`` are rounded
to 9 decimals first, so that float noise (0.2 * 15 = 3.0000000000000004) does not add an image. :class:`SPBLState`
(defined in ``spbl_state.py``, re-exported here) carries a round's results to the next.
"""

from __future__ import annotations

import math

import numpy as np

from dermkit.errors import ConfigError, DataError
from dermkit.tasks.spbl_state import SPBLState

__all__ = [
    "SPBLState",
    "apply_rebalance",
    "check_class_coverage",
    "cost_weights",
    "decayed_weights",
    "difficulty",
    "initial_split",
    "pace_weight",
    "rebalance_plan",
    "select",
    "validate_pace",
]

MAX_OVERSAMPLE = 100  # step 5d: at most this many duplicates per class and round
UNDERSAMPLE_FACTOR = 3.0  # step 5d: only classes with >= 3 x the mean selected count are undersampled


def _ceil(x: float) -> int:
    return math.ceil(round(x, 9))


def _check_ratio(ratio: float, name: str) -> None:
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"{name} must lie in (0, 1], got {ratio}")


def _check_pool(pool_labels: np.ndarray, pool_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(pool_labels, dtype=np.int64)
    probs = np.asarray(pool_probs, dtype=np.float64)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(f"pool_labels (n,) and pool_probs (n, C) disagree: {labels.shape} and {probs.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"pool_labels must lie in 0..{probs.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    return labels, probs


def initial_split(labels: np.ndarray, ratio: float = 0.2, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Step 1 of SPBL (Yang, Wu et al., TNNLS 2019): per class, ``ceil(ratio * n_c)`` random images start "easy".

    Args:
        labels: (N,) class indices of the training images.
        ratio: Fraction of each class in the initial easy set S0, in (0, 1].
        rng: Source of the random draw.

    Returns:
        ``(easy_idx, pool_idx)``: disjoint sorted indices into ``labels`` covering all of it; the pool U is the rest
        and is never shrunk by later rounds.
    """
    _check_ratio(ratio, "train ratio")
    labels = np.asarray(labels, dtype=np.int64)
    easy = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        easy.append(rng.permutation(members)[: _ceil(ratio * members.size)])
    easy_idx = np.sort(np.concatenate(easy)) if easy else np.zeros(0, np.int64)
    return easy_idx, np.setdiff1d(np.arange(labels.size), easy_idx)


def select(pool_labels: np.ndarray, pool_probs: np.ndarray, ratio: float) -> np.ndarray:
    """Step 5a of SPBL (Yang, Wu et al., TNNLS 2019): class-balanced self-paced selection.

    For every class c, among pool samples whose true label is c, the ``ceil(n_c^U * ratio)`` with the highest
    p(i, c), i.e. the lowest loss -log p(i, c). Ties keep the lower pool index.

    Args:
        pool_labels: (n_pool,) true class indices of the pool.
        pool_probs: (n_pool, C) class probabilities of the pool (softmax of the SVM decision values).
        ratio: The pace ratio r_s in (0, 1].

    Returns:
        Sorted indices into the pool.
    """
    _check_ratio(ratio, "pace ratio")
    labels, probs = _check_pool(pool_labels, pool_probs)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order = np.argsort(-probs[members, c], kind="stable")
        chosen.append(members[order[: _ceil(members.size * ratio)]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def difficulty(pool_labels: np.ndarray, pool_probs: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Step 5b of SPBL (Yang, Wu et al., TNNLS 2019): per-class "easiness-weighted size" H.

    ``l_c`` is the mean of -log p(i, c) over the selected samples of class c, ``H_c = n_c^U / exp(l_c)`` (n_c^U the
    class's pool size), then H is min-max rescaled to ``[min_c n_c^U, max_c n_c^U]`` and rounded up. A large H means a
    large, easy class. Reading of the corner cases: a class without selected samples has ``l_c = 0`` (so
    ``H_c = n_c^U``, 0 for an empty pool); the minimum and maximum run over all C classes; when H is constant the
    rescale is undefined and every class gets the lower end.

    Args:
        pool_labels: (n_pool,) true class indices.
        pool_probs: (n_pool, C) class probabilities.
        selected: Indices into the pool chosen by :func:`select`.

    Returns:
        (C,) int64 rescaled H.
    """
    labels, probs = _check_pool(pool_labels, pool_probs)
    num_classes = probs.shape[1]
    sel = np.asarray(selected, dtype=np.int64)
    n_pool = np.bincount(labels, minlength=num_classes).astype(np.float64)
    sel_labels = labels[sel]
    losses = -np.log(np.clip(probs[sel, sel_labels], np.finfo(np.float64).tiny, None))
    n_sel = np.bincount(sel_labels, minlength=num_classes)
    mean_loss = np.bincount(sel_labels, weights=losses, minlength=num_classes) / np.maximum(n_sel, 1)
    h = n_pool / np.exp(mean_loss)
    lo, hi = n_pool.min(), n_pool.max()
    span = h.max() - h.min()
    scaled = np.full(num_classes, lo) if span == 0 else lo + (h - h.min()) / span * (hi - lo)
    return np.array([_ceil(v) for v in scaled], dtype=np.int64)


def cost_weights(h: np.ndarray, rng: np.random.Generator, low: float = 1.0, high: float = 10.0) -> np.ndarray:
    """Step 5c of SPBL (Yang, Wu et al., TNNLS 2019): class weights from a consistent random cost vector.

    Reimplements, in numpy, the cost generation of Liu & Zhou ("The influence of class imbalance on cost-sensitive
    learning: an empirical study", ICDM 2006) as SPBL uses it: C costs uniform in [low, high], sorted, and given in
    order so that the class with the largest H gets the smallest cost and the class with the smallest H the largest
    (rarer / harder -> larger weight). Ties in H keep the lower class index first.

    Args:
        h: (C,) difficulty from :func:`difficulty`.
        rng: Source of the random costs.
        low: Smallest possible cost (> 0).
        high: Largest possible cost (>= low).

    Returns:
        (C,) float64 class weights.
    """
    if not 0 < low <= high:
        raise ValueError(f"cost range must satisfy 0 < low <= high, got low={low}, high={high}")
    h = np.asarray(h, dtype=np.float64)
    costs = np.sort(rng.uniform(low, high, size=h.size))
    weights = np.empty(h.size)
    weights[np.argsort(-h, kind="stable")] = costs
    return weights


def rebalance_plan(selected_counts: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Step 5d of SPBL (Yang, Wu et al., TNNLS 2019): how many samples to add (> 0) or drop (< 0) per class.

    The selected per-class counts, sorted ascending, become the targets of the classes taken in order of H
    descending (the largest, easiest class gets the smallest count); ``delta_c = target_c - selected_c``. A positive
    delta is capped at 100. A negative delta becomes 0 when ``selected_c < 3 * mean(selected)``; otherwise the class
    is undersampled to ``max(target_c, ceil(3 * mean(selected)))``. Readings of the ambiguous parts: the mean runs
    over all C classes (including ones with 0 selected); ``3 * mean`` is rounded up so the kept count is an integer
    and never below it; ties in H keep the lower class index first.

    Args:
        selected_counts: (C,) number of selected samples per class.
        h: (C,) difficulty from :func:`difficulty`.

    Returns:
        (C,) int64 delta.
    """
    counts = np.asarray(selected_counts, dtype=np.int64)
    h = np.asarray(h, dtype=np.float64)
    if counts.shape != h.shape or counts.ndim != 1:
        raise ValueError(f"selected_counts and H must both be (C,), got {counts.shape} and {h.shape}")
    target = np.empty_like(counts)
    target[np.argsort(-h, kind="stable")] = np.sort(counts)
    delta = target - counts
    bar = UNDERSAMPLE_FACTOR * counts.mean()
    floor = _ceil(bar)
    down = delta < 0
    delta[down] = np.where(counts[down] < bar, 0, np.maximum(target[down], floor) - counts[down])
    return np.minimum(delta, MAX_OVERSAMPLE)


def apply_rebalance(indices: np.ndarray, labels: np.ndarray, delta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Step 5d/5f of SPBL (Yang, Wu et al., TNNLS 2019): duplicate or drop random members per class.

    Args:
        indices: (M,) indices of the current set, into ``labels``.
        labels: (N,) class index of every item ``indices`` can point at (class of ``indices[k]`` is
            ``labels[indices[k]]``).
        delta: (C,) from :func:`rebalance_plan`: ``delta_c > 0`` adds that many random members of class c (drawn
            without replacement when the class has at least ``delta_c`` members, with replacement otherwise);
            ``delta_c < 0`` drops that many random members.
        rng: Source of the random draws.

    Returns:
        Sorted indices (duplicates adjacent).
    """
    idx = np.asarray(indices, dtype=np.int64)
    cls = np.asarray(labels, dtype=np.int64)[idx]
    delta = np.asarray(delta, dtype=np.int64)
    out = [idx[~np.isin(cls, np.flatnonzero(delta != 0))]]
    for c in np.flatnonzero(delta != 0):
        members, d = idx[cls == c], int(delta[c])
        if members.size == 0 or -d > members.size:
            raise ValueError(f"class {c} has {members.size} samples, cannot apply a re-balancing delta of {d}")
        if d > 0:
            out += [members, rng.choice(members, size=d, replace=d > members.size)]
        else:
            out.append(np.delete(members, rng.choice(members.size, size=-d, replace=False)))
    return np.sort(np.concatenate(out))


def pace_weight(ratio: float, start: float = 0.2) -> float:
    """Weight decay factor of SPBL's paced pool (Yang, Wu et al., TNNLS 2019): ``ratio * (1 - start) + start``.

    Step 3 multiplies the initial easy set's weights by ``pace_weight(0) = start``; step 5f multiplies the weights of
    the features added at pace ratio r_s by ``pace_weight(r_s)`` before they join the paced pool.

    Args:
        ratio: Pace ratio in [0, 1] (0 for the initial easy set).
        start: The initial-set ratio of step 1, in [0, 1].

    Returns:
        The factor, in [start, 1].
    """
    if not (0.0 <= ratio <= 1.0 and 0.0 <= start <= 1.0):
        raise ValueError(f"pace ratio and start must lie in [0, 1], got ratio={ratio}, start={start}")
    return ratio * (1.0 - start) + start


def decayed_weights(weights: np.ndarray, ratio: float, start: float = 0.2) -> np.ndarray:
    """The weights a round's features keep in later SVM fits (SPBL steps 3 and 5f; Yang, Wu et al., TNNLS 2019).

    Args:
        weights: (M,) sample weights of the round's features.
        ratio: The round's pace ratio (0 for the initial easy set).
        start: The initial-set ratio.

    Returns:
        (M,) ``weights * pace_weight(ratio, start)``.
    """
    return np.asarray(weights, dtype=np.float64) * pace_weight(ratio, start)


def validate_pace(schedule: list[float] | tuple[float, ...]) -> list[float]:
    """Check ``task.pace``, SPBL's pace ("age") schedule: a non-empty, non-decreasing list of ratios in (0, 1].

    Args:
        schedule: One pool ratio per round, e.g. ``[0.5, 0.75, 0.9, 1.0, 1.0]`` (Yang, Wu et al., TNNLS 2019).

    Returns:
        The schedule as a list of floats.

    Raises:
        ConfigError: naming ``task.pace`` and the problem.
    """
    pace = [float(r) for r in schedule]
    if not pace:
        raise ConfigError("task.pace is empty; give ratios in (0, 1], e.g. [0.5, 0.75, 0.9, 1.0, 1.0]")
    for k, r in enumerate(pace):
        if not 0.0 < r <= 1.0:
            raise ConfigError(f"task.pace[{k}] = {r} lies outside (0, 1]")
        if k and r < pace[k - 1]:
            raise ConfigError(f"task.pace must be non-decreasing, but task.pace[{k}] = {r} < {pace[k - 1]}")
    return pace


def check_class_coverage(selected_labels: np.ndarray, num_classes: int, class_names: list[str] | None = None) -> None:
    """Raise if a class has no image in a round's training set (easy set plus selected pool samples).

    Args:
        selected_labels: (M,) class indices of the round's training images.
        num_classes: C.
        class_names: Optional names, quoted in the error.

    Raises:
        DataError: naming the first such class and ``task.pace``.
    """
    counts = np.bincount(np.asarray(selected_labels, dtype=np.int64), minlength=num_classes)
    empty = np.flatnonzero(counts[:num_classes] == 0)
    if empty.size:
        c = int(empty[0])
        name = f" ({class_names[c]!r})" if class_names else ""
        raise DataError(
            f"task.pace leaves class {c}{name} with no selected image ({empty.size} such class(es)); "
            "every class needs at least one training image"
        )
