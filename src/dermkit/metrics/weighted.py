"""The headline metrics of one set of predictions under any row weights: the fast path of the bootstrap.

A bootstrap resample is a multiset of rows, i.e. a vector of integer weights (how often each row was drawn), so
every metric of the resample is the same metric with those weights (Efron 1982, the bootstrap as a reweighting).
Everything that does not depend on the weights is done once per evaluation: the per-class score orders and their
runs of tied scores, the predictions, the per-row losses and the calibration bins. A resample then costs a few
weighted sums: ROC-AUC is the Mann-Whitney statistic with midranks (Hanley & McNeil 1982) over the sorted runs,
average precision the step-wise sum ``sum_k (R_k - R_k-1) P_k`` over distinct thresholds, MAUC the mean of pairwise
AUCs (Hand & Till 2001), ECE the binned gap of Guo et al. (2017). Unit weights give the plain metrics, which the tests
check against scikit-learn and ``metrics.json``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from dermkit.metrics import functional as F
from dermkit.metrics.calibration import ECE_BINS, confidence_bin_index

OPERATING_LEVELS = (0.999, 0.99, 0.95)  # recall floors of the binary operating points (as in metrics.json)
_EPS = 1e-15


class RankedScores:
    """One score per row, sorted once; weighted ROC-AUC and precision-recall points without sorting again.

    Args:
        score: (N,) scores, higher meaning more positive.
        positive: (N,) bool, the rows of the positive class.
        rows: which rows of the weight vector these N scores belong to (default: all, in order).
    """

    def __init__(self, score: np.ndarray, positive: np.ndarray, rows: np.ndarray | None = None) -> None:
        order = np.argsort(score, kind="mergesort")
        self.rows = order if rows is None else rows[order]
        self.positive = positive[order]
        sorted_scores = score[order]
        # A run of equal scores is one threshold and shares one midrank: run[i] numbers the run of sorted row i.
        self.run = np.concatenate(([0], np.cumsum(sorted_scores[1:] != sorted_scores[:-1])))
        self.runs = int(self.run[-1]) + 1 if score.size else 0

    def _run_sums(self, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative weight of every run, lowest score first."""
        w = np.ones(self.rows.size) if weights is None else weights[self.rows]
        pos = np.bincount(self.run, weights=np.where(self.positive, w, 0.0), minlength=self.runs)
        return pos, np.bincount(self.run, weights=w, minlength=self.runs) - pos

    def auc(self, weights: np.ndarray | None = None) -> float:
        """ROC-AUC: the chance a positive outscores a negative, ties counting one half (== sklearn's)."""
        pos, neg = self._run_sums(weights)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos <= 0 or n_neg <= 0:
            return float("nan")
        negatives_below = np.cumsum(neg) - neg
        return float(pos @ (negatives_below + 0.5 * neg) / (n_pos * n_neg))

    def precision_recall(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Precision and recall at every distinct score drawn, highest threshold first (sklearn's PR curve
        without its (1, 0) end point); empty arrays when no positive is drawn."""
        pos, neg = self._run_sums(weights)
        if pos.sum() <= 0:
            return np.empty(0), np.empty(0)
        drawn = (pos + neg)[::-1] > 0  # a score absent from the resample is no threshold
        true_pos = np.cumsum(pos[::-1])[drawn]
        return true_pos / np.cumsum((pos + neg)[::-1])[drawn], true_pos / pos.sum()

    def average_precision(self, weights: np.ndarray | None = None) -> float:
        """Step-wise area under the PR curve (== sklearn's ``average_precision_score``)."""
        precision, recall = self.precision_recall(weights)
        if not precision.size:
            return float("nan")
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))

    def precision_at_recall(self, min_recall: float, weights: np.ndarray | None = None) -> float:
        """Highest precision over thresholds with recall >= ``min_recall`` (NaN if no positive is drawn)."""
        precision, recall = self.precision_recall(weights)
        ok = recall >= min_recall - 1e-12
        return float(precision[ok].max()) if ok.any() else float("nan")


def headline_names(num_classes: int) -> list[str]:
    """The headline metrics of a ``num_classes`` problem, in report order (MAUC only for 3 to 10 classes)."""
    binary = num_classes == 2
    names = ["accuracy", "balanced_accuracy"] + (["sensitivity", "specificity"] if binary else [])
    names += ["roc_auc", "macro_f1", "g_mean"] + (["mauc"] if 2 < num_classes <= 10 else [])
    names += ["average_precision", "cohen_kappa"]
    names += [f"precision_at_recall_{level}" for level in OPERATING_LEVELS] if binary else []
    return [*names, "log_loss", "brier", "ece"]


class WeightedHeadline:
    """The headline metrics of ``(y_true, proba)`` under row weights; see ``headline.headline_functions``.

    Args:
        y_true: (N,) class indices.
        proba: (N, C) probabilities.
        threshold: the binary decision threshold on ``p_1`` (None: argmax).
    """

    def __init__(self, y_true: np.ndarray, proba: np.ndarray, threshold: float | None = None) -> None:
        y = np.asarray(y_true, dtype=np.int64)
        p = np.asarray(proba, dtype=np.float64)
        self.size, self.num_classes = p.shape
        classes = self.num_classes
        predicted = F.predict(p, threshold if classes == 2 else None)
        self.cell = y * classes + predicted  # confusion-matrix cell of every row
        self.correct = (predicted == y).astype(np.float64)
        self.row_log_loss = -np.log(np.clip(p[np.arange(y.size), y], _EPS, 1.0))
        self.row_brier = np.sum((p - np.eye(classes)[y]) ** 2, axis=1)
        confidence = p.max(axis=1)
        self.ece_bin = confidence_bin_index(confidence, ECE_BINS)
        self.ece_gap = (p.argmax(axis=1) == y) - confidence  # a bin's weighted sum of this is count x (acc - conf)
        self.one_vs_rest = [RankedScores(p[:, c], y == c) for c in range(classes)]
        self.pairs = {}
        if 2 < classes <= 10:  # MAUC's cost grows with C squared
            for a, b in combinations(range(classes), 2):
                rows = np.flatnonzero((y == a) | (y == b))
                self.pairs[a, b] = (RankedScores(p[rows, a], y[rows] == a, rows),
                                    RankedScores(p[rows, b], y[rows] == b, rows))  # fmt: skip

    def __call__(self, weights: np.ndarray | None = None) -> dict[str, float]:
        """Every headline metric with row ``weights`` (N,) (None: each row once)."""
        w = np.ones(self.size) if weights is None else np.asarray(weights, dtype=np.float64)
        total = w.sum()
        classes = self.num_classes
        cm = np.bincount(self.cell, weights=w, minlength=classes * classes).reshape(classes, classes)
        per_class = F.per_class_from_confusion(cm)
        present = cm.sum(axis=1) > 0  # classes drawn: the multi-class macro averages skip the others
        values = {"accuracy": float(w @ self.correct / total), "balanced_accuracy": F.nan_average(per_class["recall"])}
        if classes == 2:
            values["sensitivity"], values["specificity"] = float(per_class["recall"][1]), float(per_class["recall"][0])
            values["roc_auc"] = self.one_vs_rest[1].auc(w)
        else:
            aucs = [s.auc(w) for c, s in enumerate(self.one_vs_rest) if present[c]]
            values["roc_auc"] = float(np.mean(aucs)) if len(aucs) > 1 else float("nan")
        values["macro_f1"] = F.nan_average(per_class["f1"])
        values["g_mean"] = F.g_mean_of_recalls(per_class["recall"])
        if self.pairs:
            values["mauc"] = self._mauc(w, present)
        if classes == 2:
            values["average_precision"] = self.one_vs_rest[1].average_precision(w)
        else:
            ap = [s.average_precision(w) for c, s in enumerate(self.one_vs_rest) if present[c]]
            values["average_precision"] = float(np.mean(ap)) if ap else float("nan")
        values["cohen_kappa"] = _kappa(cm)
        if classes == 2:
            for level in OPERATING_LEVELS:
                values[f"precision_at_recall_{level}"] = self.one_vs_rest[1].precision_at_recall(level, w)
        values["log_loss"] = float(w @ self.row_log_loss / total)
        values["brier"] = float(w @ self.row_brier / total)
        gaps = np.bincount(self.ece_bin, weights=w * self.ece_gap, minlength=ECE_BINS)
        values["ece"] = float(np.abs(gaps).sum() / total)
        return values

    def _mauc(self, w: np.ndarray, present: np.ndarray) -> float:
        aucs = [(first.auc(w) + second.auc(w)) / 2 for (a, b), (first, second) in self.pairs.items()
                if present[a] and present[b]]  # fmt: skip
        return float(np.mean(aucs)) if aucs else float("nan")


def _kappa(cm: np.ndarray) -> float:
    """Cohen's kappa from a confusion matrix (== sklearn's unweighted ``cohen_kappa_score``)."""
    n = cm.sum()
    observed = np.trace(cm) / n
    expected = float(cm.sum(axis=0) @ cm.sum(axis=1)) / n**2
    return float((observed - expected) / (1.0 - expected)) if expected < 1.0 else float("nan")
