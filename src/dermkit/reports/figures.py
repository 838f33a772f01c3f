"""The figures and thumbnails of the HTML evaluation report, each returned as an embeddable ``data:`` URI.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no global backend state), so they
are safe in servers and threads. PNGs are reduced to a 256-colour palette, which keeps flat-coloured plots sharp
at about a third of the size. The curve and calibration maths come from scikit-learn and
:func:`dermkit.metrics.calibration.reliability_bins`; only the drawing is written here.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from sklearn import metrics as skm

from dermkit.data.decode import load_image

__all__ = [
    "confusion_figure",
    "curves_figure",
    "figure_data_uri",
    "reliability_figure",
    "thumbnail_data_uri",
]

_MAX_ANNOTATED = 20  # more classes than this: no numbers in the confusion-matrix cells
_MAX_LEGEND = 12  # more curves than this: no legend


def figure_data_uri(fig: Figure, dpi: int = 100) -> str:
    """Render ``fig`` as a palette PNG and return it as a ``data:image/png;base64,...`` URI."""
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi, facecolor="white")
    raw.seek(0)
    with Image.open(raw) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def thumbnail_data_uri(path: str | Path, size: int = 128, quality: int = 80) -> str:
    """Load an image safely and return a JPEG thumbnail (longest side ``size``) as a ``data:`` URI.

    Raises:
        ImageLoadError: the file cannot be decoded.
    """
    img = Image.fromarray(load_image(path, min_size=size))
    img.thumbnail((size, size))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def confusion_figure(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    """Two heatmaps side by side: raw counts and row-normalised rates (rows = true, columns = predicted)."""
    cm = np.asarray(matrix, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
    c = cm.shape[0]
    side = min(max(3.6, 0.5 * c + 2.2), 9.0)
    fig = Figure(figsize=(2 * side + 1.0, side), layout="constrained")
    names = [_short(str(s)) for s in labels]
    panels = (("Counts", cm, max(cm.max(), 1.0), "{:.0f}"), ("Row-normalised (recall)", norm, 1.0, "{:.2f}"))
    for ax, (title, data, vmax, fmt) in zip(fig.subplots(1, 2), panels, strict=True):
        image = ax.imshow(data, cmap="Blues", vmin=0.0, vmax=vmax)
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(title)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        if c <= 40:
            ax.set_xticks(range(c), names, rotation=45 if c > 3 else 0, ha="right" if c > 3 else "center")
            ax.set_yticks(range(c), names)
        if c <= _MAX_ANNOTATED:
            for i in range(c):
                for j in range(c):
                    value = data[i, j]
                    text = "n/a" if math.isnan(value) else fmt.format(value)
                    dark = not math.isnan(value) and value > 0.6 * vmax
                    ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
    return fig


def _operating_marks(y: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(FPR, TPR, precision) of calling ``score >= threshold`` positive; NaN where undefined."""
    pred = score >= threshold
    pos, neg = y.sum(), (~y).sum()
    tp, fp = int(np.sum(pred & y)), int(np.sum(pred & ~y))
    nan = float("nan")
    return fp / neg if neg else nan, tp / pos if pos else nan, tp / (tp + fp) if tp + fp else nan


def _draw_curves(ax_roc, ax_pr, truth: np.ndarray, score: np.ndarray, name: str, legend: bool, **style) -> None:
    """One ROC and one PR curve; AUC / AP go in the legend label (labels starting with "_" stay out of it)."""
    fpr, tpr, _ = skm.roc_curve(truth, score)
    prec, rec, _ = skm.precision_recall_curve(truth, score)
    hide = "" if legend else "_"
    ax_roc.plot(fpr, tpr, label=f"{hide}{name} (AUC {skm.roc_auc_score(truth, score):.3f})", **style)
    ax_pr.step(
        rec, prec, where="post", label=f"{hide}{name} (AP {skm.average_precision_score(truth, score):.3f})", **style
    )


def curves_figure(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str], threshold: float | None = None
) -> Figure:
    """ROC and precision-recall curves: the positive class (index 1) for binary data, one-vs-rest otherwise.

    For binary data the operating point of ``threshold`` (0.5 when None, i.e. argmax) is marked on both curves.
    For multi-class data a bold micro-average curve is added; past 12 classes only it appears in the legend.
    Classes with no positives or no negatives have no curve and are listed in the title.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    c = p.shape[1]
    fig = Figure(figsize=(11.0, 4.8), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    classes = [1] if c == 2 else list(range(c))
    colors = [f"C{k % 10}" for k in range(10)] if c <= 10 else list(matplotlib.colormaps["tab20"].colors)
    skipped = []
    for k in classes:
        truth = y == k
        name = _short(str(class_names[k]), 24)
        if truth.all() or not truth.any():
            skipped.append(name)
            continue
        style = {"lw": 1.6} if c <= _MAX_LEGEND else {"lw": 0.7, "alpha": 0.5}
        _draw_curves(ax_roc, ax_pr, truth, p[:, k], name, c <= _MAX_LEGEND, color=colors[k % len(colors)], **style)
    if c == 2 and not skipped:
        truth = y == 1
        ax_pr.axhline(truth.mean(), color="grey", ls=":", lw=1, label=f"prevalence {truth.mean():.2f}")
        thr = 0.5 if threshold is None else float(threshold)
        fpr_op, tpr_op, prec_op = _operating_marks(truth, p[:, 1], thr)
        mark = {"color": "crimson", "marker": "o", "ms": 8, "ls": "none"}
        ax_roc.plot([fpr_op], [tpr_op], **mark, label=f"threshold {thr:.3g}")
        ax_pr.plot([tpr_op], [prec_op], **mark, label=f"threshold {thr:.3g}")
    elif c > 2:
        onehot = np.eye(c, dtype=bool)[y].ravel()
        _draw_curves(ax_roc, ax_pr, onehot, p.ravel(), "micro-average", True, color="black", lw=2.4)
    ax_roc.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    what = f"positive class: {_short(str(class_names[1]), 24)}" if c == 2 else "one-vs-rest"
    ax_roc.set(title=f"ROC curve ({what})", xlabel="False positive rate (1 - specificity)")
    ax_roc.set_ylabel("True positive rate (sensitivity)")
    ax_pr.set(title=f"Precision-recall curve ({what})", xlabel="Recall (sensitivity)", ylabel="Precision")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is ax_roc else "lower left", fontsize=8)
    if skipped:
        fig.suptitle(f"no curve (a single class present): {', '.join(skipped[:5])}", fontsize=9)
    return fig


def reliability_figure(bins: dict[str, np.ndarray], ece: float) -> Figure:
    """Reliability diagram (accuracy per confidence bin, gap to the diagonal) over a histogram of bin counts.

    Args:
        bins: Output of :func:`dermkit.metrics.calibration.reliability_bins`.
        ece: Expected calibration error shown in the title.
    """
    edges = np.asarray(bins["bin_edges"])
    left, width = edges[:-1], np.diff(edges)
    acc, conf, count = (np.asarray(bins[k]) for k in ("accuracy", "mean_confidence", "count"))
    full = count > 0
    fig = Figure(figsize=(6.0, 6.2), layout="constrained")
    ax, ax_hist = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    ax.bar(left[full], acc[full], width[full], align="edge", color="steelblue", edgecolor="black", label="Accuracy")
    gap = conf[full] - acc[full]
    ax.bar(
        left[full],
        gap,
        width[full],
        bottom=acc[full],
        align="edge",
        fill=False,
        edgecolor="crimson",
        hatch="///",
        label="Gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="Perfect calibration")
    ece_text = "undefined" if ece is None or math.isnan(ece) else f"{ece:.3f}"
    ax.set(title=f"Reliability diagram (ECE = {ece_text}, {len(left)} bins)", ylabel="Accuracy", ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    ax_hist.bar(left, count, width, align="edge", color="grey", edgecolor="black")
    for x, w, n in zip(left, width, count, strict=True):
        if n:
            ax_hist.text(x + w / 2, n, str(int(n)), ha="center", va="bottom", fontsize=7)
    ax_hist.set(xlabel="Confidence (top-class probability)", ylabel="Images", xlim=(0, 1))
    ax_hist.set_ylim(0, max(int(count.max()), 1) * 1.25)
    return fig


def count_scatter_figure(true_counts: np.ndarray, predicted_counts: np.ndarray) -> Figure:
    """Predicted against true lesion counts (acne), with the identity line; rows without a true count are left out."""
    true_counts, predicted_counts = np.asarray(true_counts, float), np.asarray(predicted_counts, float)
    known = np.isfinite(true_counts) & np.isfinite(predicted_counts)
    if not known.any():
        raise ValueError("no image has a true lesion count")
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    ax.scatter(true_counts[known], predicted_counts[known], s=12, alpha=0.6)
    top = float(max(true_counts[known].max(), predicted_counts[known].max(), 1.0))
    ax.plot([0, top], [0, top], color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel("true lesion count")
    ax.set_ylabel("predicted lesion count")
    fig.tight_layout()
    return fig
