"""The training log of a run (Lightning's ``metrics.csv``): read into arrays, plotted, and its section of the
evaluation report."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dermkit.reports.html import figure as _figure
from dermkit.reports.html import note as _note
from dermkit.reports.html import section as _section

__all__ = ["read_training_log", "training_figure", "training_section"]


def read_training_log(path: str | Path) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Read a Lightning ``CSVLogger`` ``metrics.csv`` whose rows each fill only some columns.

    Returns:
        ``{"epoch": {column: (epochs, values)}, "step": {column: (steps, values)}}``: every metric column averaged
        per epoch (rows without an epoch are skipped), and learning-rate columns (``lr-*``) per step.

    Raises:
        ValueError: the file is missing, not a CSV with an ``epoch`` column, or holds no numeric values.
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{path}: no 'epoch' column in a Lightning metrics.csv")
    per_epoch: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_step: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        for key, text in row.items():
            if key in (None, "epoch", "step") or not text:
                continue
            try:
                value = float(text)
            except ValueError:
                continue
            if key.startswith("lr"):
                if row.get("step"):
                    per_step[key].append((float(row["step"]), value))
            elif row.get("epoch"):
                per_epoch[key][int(float(row["epoch"]))].append(value)
    out = {
        "epoch": {k: (np.array(sorted(v)), np.array([np.mean(v[e]) for e in sorted(v)])) for k, v in per_epoch.items()},
        "step": {k: (np.array([s for s, _ in v]), np.array([x for _, x in v])) for k, v in per_step.items()},
    }
    if not out["epoch"] and not out["step"]:
        raise ValueError(f"{path}: no numeric metric values")
    return out


def training_figure(log: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], best_epoch: int | None = None) -> Figure:
    """Loss per epoch, validation metrics per epoch and (when logged) the learning rate per step.

    Args:
        log: Output of :func:`read_training_log`.
        best_epoch: Epoch of the kept checkpoint, marked with a dotted line.

    Raises:
        ValueError: nothing in ``log`` can be plotted.
    """
    epoch = log["epoch"]
    losses = [k for k in epoch if "loss" in k and not (k.endswith("_step") and k[:-5] + "_epoch" in epoch)]
    scores = [k for k in epoch if k.startswith("val") and "loss" not in k]
    panels = [("Loss per epoch", losses, "Loss"), ("Validation metrics per epoch", scores, "Score")]
    panels = [panel for panel in panels if panel[1]]
    has_lr = bool(log["step"])
    if not panels and not has_lr:
        raise ValueError("the training log holds no loss, validation metric or learning rate")
    fig = Figure(figsize=(4.6 * (len(panels) + has_lr), 3.9), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(1, len(panels) + has_lr)))
    for ax, (title, keys, ylabel) in zip(axes, panels, strict=False):
        for key in keys:
            x, v = epoch[key]
            ax.plot(x, v, marker="o", ms=3, label=key)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls=":", label=f"best epoch {best_epoch}")
        ax.set(title=title, xlabel="Epoch", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if has_lr:
        ax = axes[-1]
        for key, (x, v) in log["step"].items():
            ax.plot(x, v, label=key)
        ax.set(title="Learning rate", xlabel="Step", ylabel="Learning rate")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def training_section(training_log: str | Path | None, model_info: dict) -> str:
    """The report's ``training`` section: the curves of ``training_log`` (a ``metrics.csv`` or a run folder), the
    monitored metric and the best epoch from ``model_info`` (the model's ``model.json``), or a note saying why there
    are none."""
    if training_log is None:
        return _section("training", "Training curves", _note("No training log was given."))
    log_path = Path(training_log)
    if log_path.is_dir():
        log_path = next(
            (c for c in (log_path / "logs" / "metrics.csv", log_path / "metrics.csv") if c.exists()),
            log_path / "logs" / "metrics.csv",
        )
    training = model_info.get("training") or {}
    try:
        log = read_training_log(log_path)
    except ValueError as exc:
        return _section("training", "Training curves", _note(f"The training log could not be read: {exc}"))
    best = training.get("best_epoch")
    fig = _figure(lambda: training_figure(log, best if isinstance(best, int) else None), "Training curves")
    text = f"From {log_path.name}; monitor {training.get('monitor', 'unknown')}, best epoch {best}."
    return _section("training", "Training curves", fig + _note(text))
