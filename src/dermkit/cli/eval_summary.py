"""What ``dermkit evaluate`` prints: the task's summary, then confidence intervals, operating points, subgroups,
SPBL's heads, the chosen threshold, warnings, leakage and the files written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dermkit.evaluation.pipeline import EvaluationRun

HEAD_SHOWN = ("accuracy", "balanced_accuracy", "macro_f1", "g_mean", "mauc")


def _ci_lines(metrics: dict) -> list[str]:
    lines = []
    for name, ci in (metrics.get("ci") or {}).items():
        if ci.get("low") is not None and not name.startswith("precision_at_recall_"):  # shown with operating points
            lines.append(f"{name:18s} {ci['point']:.4f}  [{ci['low']:.4f}, {ci['high']:.4f}]")
    return [f"confidence intervals ({metrics.get('ci_method', 'bootstrap')})", *lines] if lines else []


def _operating_point_lines(metrics: dict) -> list[str]:
    points = metrics.get("operating_points")
    if not points:
        return []
    lines = ["operating points (threshold on p(positive))"]
    cis = metrics.get("ci") or {}
    for level, point in points.get("precision_at_recall", {}).items():
        ci = cis.get(f"precision_at_recall_{level}") or {}
        interval = f" 95% CI [{ci['low']:.4f}, {ci['high']:.4f}]" if ci.get("low") is not None else ""
        lines.append(
            f"  precision at recall >= {level}: {point['precision']:.4f}{interval} (threshold {point['threshold']:.4g})"
        )
    for level, point in points.get("specificity_at_sensitivity", {}).items():
        lines.append(f"  specificity at sensitivity >= {level}: {point['specificity']:.4f} "
                     f"(threshold {point['threshold']:.4g})")  # fmt: skip
    youden = points.get("youden")
    if youden:
        lines.append(f"  Youden J {youden['j']:.4f} at threshold {youden['threshold']:.4g}")
    return lines


def _head_lines(metrics: dict) -> list[str]:
    """SPBL with ``--head both``: each head's headline metrics."""
    lines = []
    for head, values in (metrics.get("heads") or {}).items():
        shown = [f"{key} {values[key]:.4f}" for key in HEAD_SHOWN if values.get(key) is not None]
        lines.append(f"  {head}: " + ", ".join(shown))
    return ["heads (both = mean of the SVM's and the CNN's probabilities)", *lines] if lines else []


def _subgroup_lines(metrics: dict) -> list[str]:
    lines = []
    for column, report in (metrics.get("subgroups") or {}).items():
        lines.append(f"by {column}:")
        for value, group in report["groups"].items():
            parts = [f"n={group['n']}"] + [f"{name} {m['point']:.3f}" for name, m in group["metrics"].items()
                                           if name in ("accuracy", "balanced_accuracy", "roc_auc")]  # fmt: skip
            lines.append(f"  {value}: " + ", ".join(parts))
        for name, gap in report["worst_gap"].items():
            if name in ("accuracy", "balanced_accuracy", "roc_auc", "sensitivity"):
                lines.append(f"  worst-group gap in {name}: {gap['gap']:.3f} ({gap['worst']} vs {gap['best']})")
    return lines


def evaluation_lines(run: EvaluationRun, data: Path, chose_threshold: bool = False) -> list[str]:
    """The lines of an evaluation's summary, in order (``chose_threshold``: ``--choose-threshold`` was given)."""
    metrics = run.evaluation.metrics
    mode = metrics["tta"]
    lines = [f"{data}: {run.description}" + (f", test-time augmentation: {mode}" if mode != "none" else "")]
    lines.append(run.task.summary(metrics))
    lines += _ci_lines(metrics) + _operating_point_lines(metrics) + _subgroup_lines(metrics) + _head_lines(metrics)
    decision = metrics.get("decision") or {}
    if chose_threshold:
        saved = "saved to model.json" if run.threshold_saved else "not saved (add --save)"
        lines.append(f"threshold {decision['threshold']:.6g} ({decision['threshold_source']}; midway below the "
                     f"operating point's score, same decisions on this data), {saved}")  # fmt: skip
    lines += [f"warning: {warning}" for warning in metrics.get("warnings", [])]
    leak = (run.audit or {}).get("leakage") or {}
    if any(leak.values()):
        lines.append(f"LEAKAGE across splits: {leak.get('exact', 0)} exact-duplicate groups, {leak.get('near', 0)} "
                     f"near-duplicate pairs, {leak.get('patients', 0)} patients (see audit.json)")  # fmt: skip
    if metrics.get("unreadable"):
        lines.append(f"{metrics['unreadable']} unreadable images are listed in predictions.csv (error column)")
    lines += [f"{what + ':':13s}{path}" for what, path in run.files.items()]
    return lines
