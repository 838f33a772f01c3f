"""The metric catalogue: every metric dermkit reports, its display label and whether lower is better.

One place for what the model card, the HTML report, ``compare``, ``cv`` and the trainer's monitor mode need to know
about a metric's name. Which metrics are a task's headline is the task's choice (:meth:`dermkit.tasks.Task.headline`).
"""

from __future__ import annotations

METRICS: dict[str, tuple[str, bool]] = {
    # classification ("{pos}" is the positive class of a binary model)
    "accuracy": ("Accuracy", False),
    "balanced_accuracy": ("Balanced accuracy", False),
    "roc_auc": ("ROC-AUC", False),
    "mauc": ("MAUC (Hand & Till)", False),
    "macro_precision": ("Macro precision", False),
    "macro_recall": ("Macro recall", False),
    "macro_f1": ("Macro F1", False),
    "sensitivity": ("Sensitivity ({pos})", False),
    "specificity": ("Specificity", False),
    "g_mean": ("G-mean", False),
    "g_mean_spbl": ("G-mean, zero recalls as 0.001 (SPBL)", False),
    "weighted_pr_harmonic": ("Harmonic mean of weighted P and R (SPBL's 'MAUC')", False),
    "average_precision": ("Average precision", False),
    "cohen_kappa": ("Cohen's kappa", False),
    "top2_accuracy": ("Top-2 accuracy", False),
    "log_loss": ("Log loss", True),
    "brier": ("Brier score", True),
    "ece": ("ECE (15 bins)", True),
    # acne grading and counting
    "macro_sensitivity": ("Macro sensitivity", False),
    "macro_specificity": ("Macro specificity", False),
    "youden": ("Youden index", False),
    "quadratic_kappa": ("Quadratic-weighted kappa", False),
    "mcc": ("Matthews correlation", False),
    "count_mae": ("Count MAE", True),
    "count_mse": ("Count MSE", True),
    "count_rmse": ("Count RMSE", True),
}
"""``name -> (label, lower_is_better)``, in display order."""

LOWER_IS_BETTER = frozenset(name for name, (_, lower) in METRICS.items() if lower)
_LOWER_WORDS = ("loss", "error", "mae", "mse", "rmse", "ece", "brier")


def lower_is_better(name: str) -> bool:
    """Whether smaller values of ``name`` are better; logged names (``val/loss``, ``val/count_mae``) included."""
    base = name.rsplit("/", 1)[-1]
    if base in METRICS:
        return METRICS[base][1]
    return any(word in base for word in _LOWER_WORDS)


def metric_label(name: str, positive: str = "") -> str:
    """The display label of ``name`` (its own name, spaced, when it is not in the catalogue)."""
    label = METRICS[name][0] if name in METRICS else name.replace("_", " ")
    return label.format(pos=positive)
