"""The terminal summary of a classifier's evaluation (``dermkit train`` / ``evaluate`` print it)."""

from __future__ import annotations

from typing import Any

from dermkit.reports.numbers import format_number


def _fmt(x: Any, digits: int = 4) -> str:
    return format_number(x, digits, missing="n/a")


def format_summary(metrics: dict[str, Any]) -> str:
    """Render a :func:`classification_metrics` dict (or its JSON round-trip, where NaN became null) as text.

    Args:
        metrics: Output of :func:`classification_metrics`.

    Returns:
        A multi-line plain-text block: headline metrics, a per-class precision / recall / F1 / support table with
        macro and weighted averages, and the labelled confusion matrix (rows true, columns predicted).
    """
    head = [
        ("samples", str(metrics["n"])),
        ("accuracy", _fmt(metrics.get("accuracy"))),
        ("balanced accuracy", _fmt(metrics.get("balanced_accuracy"))),
        ("ROC-AUC", _fmt(metrics.get("roc_auc"))),
    ]
    if metrics.get("mauc") is not None:
        head.append(("MAUC (Hand & Till)", _fmt(metrics["mauc"])))
    if "g_mean_spbl" in metrics:
        head.append(("G-mean (SPBL: zero recall 0.001)", _fmt(metrics["g_mean_spbl"])))
        head.append(("weighted P/R harmonic (SPBL's MAUC)", _fmt(metrics.get("weighted_pr_harmonic"))))
    if "many_shot_accuracy" in metrics:
        shots = " / ".join(_fmt(metrics.get(f"{name}_shot_accuracy")) for name in ("many", "medium", "few"))
        head.append(("many / medium / few-shot accuracy", shots))
    head.append(("log loss", _fmt(metrics.get("log_loss"))))
    if metrics.get("threshold") is not None:
        head.append(("threshold", _fmt(metrics["threshold"])))
    width = max(len(k) for k, _ in head)
    lines = [f"{k:<{width}}  {v}" for k, v in head]

    per_class = metrics["per_class"]
    names = list(per_class)
    name_w = max(len("weighted avg"), *(len(s) for s in names))
    cols = ("precision", "recall", "f1", "support")
    lines += ["", f"{'class':<{name_w}}  " + "  ".join(f"{h:>9}" for h in cols)]
    for name in names:
        row = per_class[name]
        vals = [_fmt(row[k], 3) for k in cols[:3]] + [str(row["support"])]
        lines.append(f"{name:<{name_w}}  " + "  ".join(f"{v:>9}" for v in vals))
    total = sum(per_class[s]["support"] for s in names)
    for group in ("macro", "weighted"):
        vals = [_fmt(metrics[group][k], 3) for k in cols[:3]] + [str(total)]
        lines.append(f"{group + ' avg':<{name_w}}  " + "  ".join(f"{v:>9}" for v in vals))

    cm = metrics["confusion_matrix"]
    labels, matrix = cm["labels"], cm["matrix"]
    cell_w = [max(3, len(s), *(len(str(r[j])) for r in matrix)) for j, s in enumerate(labels)]
    corner = "true \\ pred"
    row_w = max(len(corner), *(len(s) for s in labels))
    lines += ["", "confusion matrix (rows = true, columns = predicted)"]
    lines.append(f"{corner:<{row_w}}  " + "  ".join(f"{s:>{w}}" for s, w in zip(labels, cell_w, strict=True)))
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"{label:<{row_w}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(row, cell_w, strict=True)))
    return "\n".join(lines)
