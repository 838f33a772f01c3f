"""Long-tail metrics: many / medium / few-shot groups, SPBL's corrected G-mean and its "MAUC", imbalance ratio.

The shot groups follow the long-tailed recognition convention of Liu et al. ("Large-scale long-tailed recognition
in an open world", CVPR 2019): classes with more than 100, 20 to 100, and fewer than 20 training images. The two
SPBL variants reproduce the metrics printed by the reference code of Yang, Wu et al. ("Self-paced balance learning
for clinical skin disease recognition", IEEE TNNLS 2019), so that its published table can be compared like for like.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from ._validation import check_labels

__all__ = ["g_mean_spbl", "imbalance_ratio", "shot_accuracy", "shot_groups", "weighted_pr_harmonic"]

SHOT_GROUPS = ("many", "medium", "few")
SHOT_MANY, SHOT_FEW = 100, 20  # more than 100 training images: many-shot; fewer than 20: few-shot
SPBL_ZERO_RECALL = 0.001


def shot_groups(train_counts: np.ndarray, many: int = SHOT_MANY, few: int = SHOT_FEW) -> dict[str, list[int]]:
    """Split classes by their number of training images (Liu et al., CVPR 2019).

    Args:
        train_counts: (C,) training images per class.
        many: A class with more than ``many`` images is "many"-shot.
        few: A class with fewer than ``few`` images (0 included) is "few"-shot; the rest, ``few..many``, "medium".

    Returns:
        ``{"many": [...], "medium": [...], "few": [...]}``: sorted class indices, each class in exactly one list.
    """
    counts = np.asarray(train_counts)
    if counts.ndim != 1 or np.any(counts < 0):
        raise F.MetricInputError(f"train_counts must be (C,) non-negative counts, got shape {counts.shape}")
    if not 0 <= few <= many:
        raise F.MetricInputError(f"shot thresholds need 0 <= few <= many, got few={few}, many={many}")
    return {
        "many": np.flatnonzero(counts > many).tolist(),
        "medium": np.flatnonzero((counts >= few) & (counts <= many)).tolist(),
        "few": np.flatnonzero(counts < few).tolist(),
    }


def shot_accuracy(y_true: np.ndarray, y_pred: np.ndarray, groups: dict[str, list[int]]) -> dict[str, float | None]:
    """Accuracy over the images whose true class belongs to each group (Liu et al., CVPR 2019).

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        groups: From :func:`shot_groups` (any names work).

    Returns:
        ``{group: accuracy}``; None for a group with no image in ``y_true``.
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    out: dict[str, float | None] = {}
    for name, classes in groups.items():
        mask = np.isin(y_true, np.asarray(classes, dtype=np.int64))
        out[name] = float(np.mean(y_true[mask] == y_pred[mask])) if mask.any() else None
    return out


def g_mean_spbl(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
    """SPBL's corrected G-mean (Yang, Wu et al., TNNLS 2019): zero per-class recalls count as 0.001.

    A named variant of :func:`dermkit.metrics.functional.g_mean` (the plain one lets one missed class zero the
    score). Classes absent from ``y_true`` are left out, as in ``g_mean``: this equals
    ``imblearn.metrics.geometric_mean_score(y_true, y_pred, labels=np.unique(y_true), correction=0.001)``. With
    imblearn's default labels a class that is predicted but absent from ``y_true`` would enter at 0.001 too; on a test
    list holding every class (SPBL's setting) the two agree.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred when None.

    Returns:
        G-mean in (0, 1]; NaN if no class is present.
    """
    return F.g_mean(y_true, y_pred, num_classes, zero_recall=SPBL_ZERO_RECALL)


def weighted_pr_harmonic(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
    """Harmonic mean of support-weighted precision and recall, ``2 P_w R_w / (P_w + R_w)``.

    This is the number the SPBL reference code (Yang, Wu et al., TNNLS 2019) prints as "micromauc" and its README
    reports as "MAUC"; it is not an area under a curve (Hand & Till's MAUC is
    :func:`dermkit.metrics.functional.mauc`), hence its own name here. As in scikit-learn's
    ``precision_recall_fscore_support(average="weighted")``, a class that is never predicted has precision 0 and
    weights enter by support; ``R_w`` equals the accuracy.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        num_classes: C; inferred when None.

    Returns:
        The harmonic mean in [0, 1] (0 when both P_w and R_w are 0).
    """
    cm = F.confusion_matrix(y_true, y_pred, num_classes)
    stats = F.per_class_from_confusion(cm)
    weights = stats["support"] / stats["support"].sum()
    p_w = float(np.sum(np.nan_to_num(stats["precision"], nan=0.0) * weights))
    r_w = float(np.trace(cm) / cm.sum())
    return 0.0 if p_w + r_w == 0 else 2.0 * p_w * r_w / (p_w + r_w)


def imbalance_ratio(counts: np.ndarray) -> float:
    """Largest over smallest class count, over the classes with at least one image.

    Args:
        counts: (C,) images per class.

    Returns:
        The ratio (>= 1).
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or np.any(c < 0):
        raise F.MetricInputError(f"counts must be (C,) non-negative numbers, got shape {c.shape}")
    c = c[c > 0]
    if c.size == 0:
        raise F.MetricInputError("imbalance ratio needs at least one class with images, got none")
    return float(c.max() / c.min())
