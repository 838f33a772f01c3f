"""An RBF support vector machine that travels as plain arrays (no pickle) and decides in numpy.

Self-paced balance learning (Yang, Wu et al., "Self-paced balance learning for clinical skin disease recognition",
IEEE Transactions on Neural Networks and Learning Systems, 2019) scores unlabelled pool images with an RBF SVM fitted
on CNN features. Scikit-learn's :class:`~sklearn.svm.SVC` (libsvm; Chang & Lin, ACM TIST 2011) fits it; the fitted
model is kept as the arrays that define its decision function so it can be stored in a safetensors file next to the
CNN and evaluated without scikit-learn and without unpickling anything.

The decision is written here by hand (the one-vs-one kernel expansion and scikit-learn's one-vs-one -> one-vs-rest
transform) because no library evaluates a stored SVM from arrays; it is tested equal to ``SVC.decision_function``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from sklearn.svm import SVC

__all__ = ["SVMArrays", "decision_function", "fit_svm", "svm_scores"]

_BLOCK_FLOATS = 1 << 22  # rows of X per block are chosen so one (rows, C, C) or (rows, n_SV) array stays ~32 MB


@dataclass(frozen=True)
class SVMArrays:
    """A fitted RBF SVC as arrays, in scikit-learn's public layout.

    Attributes:
        support_vectors: (n_SV, D) float64, grouped by class in the order of ``classes``.
        dual_coef: (C - 1, n_SV) float64, scikit-learn's ``dual_coef_`` (sign-flipped by it when C == 2).
        intercept: (C (C - 1) / 2,) float64, ``intercept_``, one per class pair (0,1), (0,2), ..., (C-2, C-1).
        gamma: the RBF coefficient actually used (``"scale"`` resolved to ``1 / (D * X.var())``).
        classes: (C,) int64 labels of the decision columns.
        n_support: (C,) int64 number of support vectors per class.
    """

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    gamma: float
    classes: np.ndarray
    n_support: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for ``safetensors.numpy.save_file`` (``gamma`` becomes a (1,) float64 array)."""
        out = {f.name: np.ascontiguousarray(getattr(self, f.name)) for f in fields(self) if f.name != "gamma"}
        out["gamma"] = np.asarray([self.gamma], dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SVMArrays:
        """Rebuild from :meth:`to_arrays` output; raises ValueError naming a missing or inconsistent array."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ValueError(f"SVM arrays lack {missing}; expected keys: {names}")
        svm = cls(
            support_vectors=np.asarray(arrays["support_vectors"], dtype=np.float64),
            dual_coef=np.asarray(arrays["dual_coef"], dtype=np.float64),
            intercept=np.asarray(arrays["intercept"], dtype=np.float64).reshape(-1),
            gamma=float(np.asarray(arrays["gamma"]).reshape(-1)[0]),
            classes=np.asarray(arrays["classes"], dtype=np.int64).reshape(-1),
            n_support=np.asarray(arrays["n_support"], dtype=np.int64).reshape(-1),
        )
        c = svm.classes.size
        ok = (
            c >= 2
            and svm.n_support.size == c
            and svm.support_vectors.ndim == 2
            and int(svm.n_support.sum()) == svm.support_vectors.shape[0]
            and svm.dual_coef.shape == (c - 1, svm.support_vectors.shape[0])
            and svm.intercept.size == c * (c - 1) // 2
        )
        if not ok:
            raise ValueError(
                f"SVM arrays are inconsistent: {c} classes, n_support {svm.n_support.tolist()}, support_vectors "
                f"{svm.support_vectors.shape}, dual_coef {svm.dual_coef.shape}, intercept {svm.intercept.shape}"
            )
        return svm


def fit_svm(
    features: np.ndarray,
    labels: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    C: float = 1.0,
    gamma: float | str = "scale",
    seed: int = 0,
) -> SVMArrays:
    """Fit ``SVC(kernel="rbf", decision_function_shape="ovr")`` (other settings scikit-learn's defaults).

    The SVM of self-paced balance learning (Yang, Wu et al., IEEE TNNLS 2019), fitted with per-sample weights.

    Args:
        features: (N, D) finite features.
        labels: (N,) integer class labels; at least two distinct ones.
        sample_weight: (N,) positive finite weights (each rescales C for its sample); None for unit weights.
        C: Regularisation parameter (> 0).
        gamma: RBF coefficient, ``"scale"``, ``"auto"`` or a positive float.
        seed: ``random_state`` of the SVC (libsvm uses it only for probability estimates, which are off).

    Returns:
        The fitted :class:`SVMArrays`.

    Raises:
        ValueError: Fewer than two classes (the caller adds the round), mismatched shapes, non-finite features or
            non-positive weights.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"SVM fit needs features (N, D) and labels (N,), got {x.shape} and {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"SVM labels must be integers, got dtype {y.dtype}")
    present = np.unique(y)
    if present.size < 2:
        raise ValueError(f"SVM fit needs images of at least two classes, got {present.tolist()} ({y.size} images)")
    if not np.all(np.isfinite(x)):
        raise ValueError("SVM features contain NaN or infinite values")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != y.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"SVM sample_weight must be {y.shape} positive finite numbers, got shape {w.shape}")
    svc = SVC(C=C, kernel="rbf", gamma=gamma, decision_function_shape="ovr", random_state=seed)
    svc.fit(x, y, sample_weight=w)
    return SVMArrays(
        support_vectors=np.array(svc.support_vectors_, dtype=np.float64),
        dual_coef=np.array(svc.dual_coef_, dtype=np.float64),
        intercept=np.array(svc.intercept_, dtype=np.float64),
        gamma=float(svc._gamma),  # "scale"/"auto" resolved; scikit-learn keeps it only in this private attribute
        classes=np.array(svc.classes_, dtype=np.int64),
        n_support=np.array(svc.n_support_, dtype=np.int64),
    )


def _rbf(x: np.ndarray, sv: np.ndarray, sv_sq: np.ndarray, gamma: float) -> np.ndarray:
    sq = np.einsum("ij,ij->i", x, x)[:, None] + sv_sq[None, :] - 2.0 * (x @ sv.T)
    return np.exp(-gamma * np.maximum(sq, 0.0))


def _pair_sums(svm: SVMArrays, kernel: np.ndarray) -> np.ndarray:
    """(C, C, N): entry [k, m] sums coefficient x kernel over class k's support vectors for the pair {k, m}."""
    c = svm.classes.size
    start = np.concatenate([[0], np.cumsum(svm.n_support)])
    out = np.zeros((c, c, kernel.shape[0]))  # samples last: the pair indexing below then moves contiguous rows
    for k in range(c):
        block = slice(start[k], start[k + 1])
        # libsvm layout: class k's coefficient for the pair with class m sits in row m if m < k, else in row m - 1
        out[k, np.delete(np.arange(c), k)] = svm.dual_coef[:, block] @ kernel[:, block].T
    return out


def _ovo(svm: SVMArrays, kernel: np.ndarray) -> np.ndarray:
    """One-vs-one values (P, N) for the P pairs (0,1), (0,2), ...; >= 0 votes for the first class of the pair."""
    first, second = np.triu_indices(svm.classes.size, k=1)
    sums = _pair_sums(svm, kernel)
    return sums[first, second] + sums[second, first] + svm.intercept[:, None]


def _ovr(ovo: np.ndarray, c: int) -> np.ndarray:
    """Scikit-learn's one-vs-rest aggregation (C, N): votes plus summed margins squashed into (-1/3, 1/3)."""
    first, second = np.triu_indices(c, k=1)
    table = np.zeros((c, c, ovo.shape[1]))
    table[first, second] = ovo >= 0
    table[second, first] = ovo < 0
    votes = table.sum(axis=1)
    table[first, second] = ovo
    table[second, first] = -ovo
    conf = table.sum(axis=1)
    return votes + conf / (3.0 * (np.abs(conf) + 1.0))


def decision_function(svm: SVMArrays, x: np.ndarray) -> np.ndarray:
    """One-vs-rest decision values of the stored SVM, in numpy; equals ``SVC.decision_function`` for C > 2.

    For C > 2 this is scikit-learn's ``decision_function_shape="ovr"`` output: per class, the number of one-vs-one
    votes won plus the summed one-vs-one margins mapped monotonically into (-1/3, 1/3) by ``s / (3 (|s| + 1))``.
    For C == 2 scikit-learn returns one margin ``d`` of shape (N,) (positive = ``classes[1]``); here the result is
    always (N, C), and for two classes it is ``[-d, d]`` so that the argmax is scikit-learn's prediction and
    :func:`svm_scores` gives ``sigmoid(2 d)`` for ``classes[1]``.

    Args:
        svm: The fitted arrays.
        x: (N, D) features.

    Returns:
        (N, C) float64 decision values; column k belongs to ``svm.classes[k]``.
    """
    x = np.asarray(x, dtype=np.float64)
    d = svm.support_vectors.shape[1]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"SVM decision needs features of shape (N, {d}), got {x.shape}")
    sv_sq = np.einsum("ij,ij->i", svm.support_vectors, svm.support_vectors)
    c = svm.classes.size
    out = np.empty((x.shape[0], c))
    rows = max(1, _BLOCK_FLOATS // max(c * c, svm.support_vectors.shape[0]))
    for lo in range(0, x.shape[0], rows):
        ovo = _ovo(svm, _rbf(x[lo : lo + rows], svm.support_vectors, sv_sq, svm.gamma))
        if c == 2:
            # scikit-learn flips the binary sign so that d > 0 means classes[1]; its public arrays carry the flip
            out[lo : lo + rows] = np.concatenate([-ovo, ovo]).T
        else:
            out[lo : lo + rows] = _ovr(ovo, c).T
    return out


def svm_scores(decision: np.ndarray) -> np.ndarray:
    """Softmax over classes of SVM decision values: p(i, c) of SPBL's pool scoring (Yang, Wu et al., TNNLS 2019).

    Args:
        decision: (N, C) decision values from :func:`decision_function`.

    Returns:
        (N, C) rows summing to 1.
    """
    z = np.asarray(decision, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"svm_scores needs decision values of shape (N, C), got {z.shape}")
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
