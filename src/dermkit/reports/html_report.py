"""One self-contained HTML evaluation report (``report.html``) that a clinician can read at a glance.

Every figure and thumbnail is embedded as a base64 ``data:`` URI and the CSS is inline, so the file opens offline
and can be mailed as is. Each section is a ``<section>`` with a stable id: ``summary``, ``operating-point``
(binary), ``per-class``, ``confusion``, ``curves``, ``calibration``, ``training``, ``mistakes``, ``subgroups``
and ``audit`` (when given). Sections are built as strings by pure functions, then the page is written atomically.
Every user string (class names, paths, sources) goes through :func:`html.escape`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dermkit import __version__
from dermkit.fileio import write_text
from dermkit.metrics._validation import MetricInputError
from dermkit.metrics.calibration import reliability_bins
from dermkit.metrics.functional import predict
from dermkit.metrics.operating_point import operating_points
from dermkit.reports import figures as plots
from dermkit.reports.audit_page import render_audit_html
from dermkit.reports.html import escape as _e
from dermkit.reports.html import figure as _figure
from dermkit.reports.html import footer as _footer
from dermkit.reports.html import note as _note
from dermkit.reports.html import page as _page
from dermkit.reports.html import section as _section
from dermkit.reports.html import table as _table
from dermkit.reports.html import value_html as _v
from dermkit.reports.model_card import format_ci, format_value, headline_metrics
from dermkit.reports.training_log import training_section

__all__ = ["write_report"]

GALLERY_SIZE = 12


def _header(title: str, model_info: dict, data_info: dict, n_valid: int, n_bad: int, ids: Sequence[str]) -> str:
    arch = model_info.get("architecture") or {}
    split = data_info.get("split", "unknown")
    n = data_info.get("n", n_valid + n_bad)
    rows = [
        ("Model", arch.get("name", model_info.get("name", "unknown"))),
        ("Data", data_info.get("source", "unknown")),
        ("Split", f"{split} ({n} images{f', {n_bad} unreadable' if n_bad else ''})"),
        ("Date", f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"),
        ("dermkit", __version__),
    ]
    if data_info.get("class_counts"):
        rows.insert(3, ("Classes", ", ".join(f"{k}: {v}" for k, v in data_info["class_counts"].items())))
    meta = "".join(f"<tr><td><b>{_e(k)}</b></td><td>{_e(v)}</td></tr>" for k, v in rows)
    nav = "".join(f'<a href="#{i}">{i.replace("-", " ")}</a>' for i in ids)
    return f'<header><h1>{_e(title)}</h1><table class="meta">{meta}</table><nav>{nav}</nav></header>\n'


def _summary(metrics: dict, n_bad: int) -> str:
    cards = []
    for m in headline_metrics(metrics):
        ci = format_ci(m["ci"])
        hint = " (lower is better)" if m["lower_is_better"] else ""
        cards.append(
            f'<div class="card"><div class="l">{_e(m["label"] + hint)}</div><div class="v">{_v(m["value"])}'
            f'</div><div class="ci">{"95% CI " + _e(ci) if ci else "no CI computed"}</div></div>'
        )
    bad = f"; {n_bad} unreadable image(s) left out of the figures and gallery" if n_bad else ""
    return _section(
        "summary",
        "Summary",
        f'<p>{_e(metrics.get("n", "?"))} images evaluated{_e(bad)}.</p><div class="cards">{"".join(cards)}</div>',
    )


def _operating_point(metrics: dict, y: np.ndarray, p: np.ndarray, model_info: dict) -> str:
    threshold = metrics.get("threshold")
    source = (model_info.get("decision") or {}).get("threshold_source") or "not recorded"
    used = "argmax (P(positive) &ge; 0.5)" if threshold is None else _v(threshold, 4)
    ops = metrics.get("operating_points")
    if ops is None and len(y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ops = operating_points(y, p[:, 1])
    names = list(metrics.get("per_class") or {})
    pos = names[1] if len(names) == 2 else "class 1"
    row = (metrics.get("per_class") or {}).get(pos, {})
    body = (
        f"<p>Decision threshold in use: <b>{used}</b> on P({_e(pos)}) &mdash; source: {_e(source)}. "
        f"At it: sensitivity {_v(row.get('recall'))}, specificity {_v(row.get('specificity'))}, "
        f"precision {_v(row.get('precision'))}.</p>"
    )
    if not ops:
        return _section("operating-point", "Operating point", body + _note("No valid predictions to search."))
    specs = (
        ("precision_at_recall", "precision at recall", "precision", "recall"),
        ("specificity_at_sensitivity", "specificity at sensitivity", "specificity", "sensitivity"),
    )
    cis = metrics.get("ci") or {}
    rows = [
        [f"{label} &ge; {_e(level)}", f"{_v(r.get(value))} {_e(format_ci(cis.get(f'{key}_{level}')))}".strip(),
         f"{got} {_v(r.get(got))}", _v(r.get("threshold"), 4)]
        for key, label, value, got in specs
        for level, r in (ops.get(key) or {}).items()
    ]  # fmt: skip
    if ops.get("youden"):
        r = ops["youden"]
        got = f"sensitivity {_v(r.get('sensitivity'))}, specificity {_v(r.get('specificity'))}"
        rows.append(["Youden's J (max)", _v(r.get("j")), got, _v(r.get("threshold"), 4)])
    table = _table(["criterion", "value", "achieved", "threshold"], rows)
    return _section("operating-point", "Operating point", body + table)


def _per_class(metrics: dict) -> str:
    keys = ("precision", "recall", "f1", "specificity")
    per = metrics.get("per_class") or {}
    rows = [[_e(name), *(_v(r.get(k)) for k in keys), _e(r.get("support", ""))] for name, r in per.items()]
    total = sum(int(r.get("support") or 0) for r in per.values())
    for group in ("macro", "weighted"):
        rows.append([f"<b>{group} avg</b>", *(_v((metrics.get(group) or {}).get(k)) for k in keys), str(total)])
    body = _table(["class", "precision", "recall (sensitivity)", "F1", "specificity", "support"], rows)
    if metrics.get("undefined"):
        body += _note(
            "Undefined (no true or no predicted images of the class, so the ratio is 0/0): "
            + ", ".join(str(u) for u in metrics["undefined"])
            + "."
        )
    return _section("per-class", "Per-class metrics", body)


def _confusion(metrics: dict) -> str:
    cm = metrics.get("confusion_matrix") or {}
    if not cm.get("matrix"):
        return _section("confusion", "Confusion matrix", _note("No confusion matrix in the metrics."))
    fig = _figure(lambda: plots.confusion_figure(cm["matrix"], cm["labels"]), "Confusion matrix")
    text = _note("Rows: true class; columns: predicted class. Right: each row divided by its total (recall).")
    return _section("confusion", "Confusion matrix", fig + text)


def _task_figures(figures: Sequence[tuple[str, Callable[[], Any]]]) -> str:
    if not figures:
        return ""
    body = "".join(f"<h3>{_e(title)}</h3>" + _figure(make, title) for title, make in figures)
    return _section("task-figures", "Task figures", body)


def _curves(metrics: dict, y: np.ndarray, p: np.ndarray, names: list[str]) -> str:
    fig = _figure(lambda: plots.curves_figure(y, p, names, metrics.get("threshold")), "ROC and PR curves")
    text = f"ROC-AUC {_v(metrics.get('roc_auc'))}, average precision {_v(metrics.get('average_precision'))}"
    if len(names) > 2:
        text += f" (macro one-vs-rest), MAUC {_v(metrics.get('mauc'))}"
    return _section("curves", "ROC and precision-recall curves", fig + f"<p>{text}.</p>")


def _calibration(metrics: dict, y: np.ndarray, p: np.ndarray, model_info: dict) -> str:
    ece = metrics.get("ece")
    fig = _figure(lambda: plots.reliability_figure(reliability_bins(y, p, 15), ece), "Reliability diagram")
    temperature = (model_info.get("decision") or {}).get("temperature")
    t_text = "unknown" if temperature is None else format_value(temperature)
    text = (
        f"<p>ECE {_v(ece)} over 15 equal-width confidence bins; temperature {_e(t_text)} "
        "(1 = not calibrated). Bars at the diagonal mean the confidence can be read as a probability.</p>"
    )
    return _section("calibration", "Calibration", fig + text)


def _mistakes(metrics: dict, y: np.ndarray, p: np.ndarray, paths: list[str] | None, names: list[str]) -> str:
    title = f"Most confident mistakes (up to {GALLERY_SIZE})"
    if paths is None:
        return _section("mistakes", title, _note("No image paths were given, so no gallery."))
    if not len(y):
        return _section("mistakes", title, _note("No valid predictions."))
    pred = predict(p, metrics.get("threshold"))
    conf = p[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != y)
    if not wrong.size:
        return _section("mistakes", title, _note("No mistakes: every image was classified correctly."))
    cards = []
    for i in wrong[np.argsort(-conf[wrong], kind="stable")][:GALLERY_SIZE]:
        path = str(paths[i])
        try:
            pic = f'<img alt="{_e(Path(path).name)}" src="{plots.thumbnail_data_uri(path)}">'
        except Exception as exc:  # one unreadable image must never break the report
            pic = f'<div class="ph" title="{_e(exc)}">image unreadable</div>'
        cards.append(
            f'<div class="thumb" title="{_e(path)}">{pic}<b>true:</b> {_e(names[y[i]])}<br><b>predicted:'
            f"</b> {_e(names[pred[i]])}<br><b>confidence:</b> {conf[i]:.3f}<br>{_e(Path(path).name)}</div>"
        )
    return _section("mistakes", title, f'<div class="gallery">{"".join(cards)}</div>')


def _subgroups(subgroups: dict) -> str:
    body = ""
    for column, result in subgroups.items():
        groups, gaps = result.get("groups") or {}, result.get("worst_gap") or {}
        names = list(dict.fromkeys(k for g in groups.values() for k in (g.get("metrics") or {})))
        rows, classes = [], []
        for value, g in groups.items():
            worst_on = [m for m in names if str(gaps.get(m, {}).get("worst")) == str(value)]
            cells = [
                _e(value) + (f' <b class="worst">worst: {_e(", ".join(worst_on))}</b>' if worst_on else ""),
                _e(g.get("n", "")),
            ]
            for m in names:
                ci = (g.get("metrics") or {}).get(m) or {}
                text = f"{_v(ci.get('point'))} {_e(format_ci(ci))}"
                cells.append(f'<td class="worst">{text}</td>' if m in worst_on else text)
            rows.append(cells)
            classes.append("worst-row" if worst_on else "")
        gap_rows = [
            [_e(m), _v(g.get("gap")), _e(g.get("best")), f'<td class="worst">{_e(g.get("worst"))}</td>']
            for m, g in gaps.items()
        ]
        body += f"<h3>By {_e(column)}</h3>" + _table(["group", "n", *names], rows, classes)
        if gap_rows:
            body += "<p>Worst-group gap (best minus worst):</p>" + _table(["metric", "gap", "best", "worst"], gap_rows)
    return _section("subgroups", "Subgroups (95% CIs)", body)


def write_report(
    path: str | Path,
    *,
    title: str,
    metrics: dict,
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    paths: Sequence[str] | None = None,
    training_log: str | Path | None = None,
    model_info: dict | None = None,
    data_info: dict | None = None,
    audit: dict | None = None,
    figures: Sequence[tuple[str, Callable[[], Any]]] = (),
) -> Path:
    """Write the self-contained HTML evaluation report.

    Args:
        path: The HTML file to write (atomically).
        title: Page title.
        metrics: A :func:`~dermkit.metrics.classification.classification_metrics` dict (NaN or None for undefined
            values), optionally with ``ci``, ``ci_method``, ``operating_points`` (binary) and ``subgroups``.
        y_true: (N,) true class indices.
        proba: (N, C) probabilities; rows holding NaN (unreadable images) are left out of curves and gallery.
        class_names: C class names; C == 2 is binary with class 1 positive.
        paths: (N,) image paths for the gallery of confident mistakes.
        training_log: Lightning ``metrics.csv`` (or a run folder holding ``logs/metrics.csv``).
        model_info: The model's ``model.json`` as a dict; any key may be missing.
        data_info: ``{"source", "split", "n", "class_counts"}`` of the evaluated data.
        audit: A dataset audit dict, rendered by :func:`render_audit_html`.
        figures: the task's own figures (:meth:`dermkit.tasks.Task.report_figures`), ``(title, make_figure)``.

    Returns:
        The path written.
    """
    model_info, data_info = model_info or {}, data_info or {}
    names = [str(c) for c in class_names]
    p = np.asarray(proba, dtype=np.float64).reshape(len(y_true), -1)
    y_all = np.asarray(y_true, dtype=np.int64)
    if p.shape[1] != len(names) or (paths is not None and len(paths) != len(y_all)):
        n_paths = "no" if paths is None else len(paths)
        raise MetricInputError(
            f"report inputs disagree: {len(y_all)} labels, proba {p.shape}, {len(names)} class names, {n_paths} paths"
        )
    valid = np.isfinite(p).all(axis=1) & (y_all >= 0) & (y_all < p.shape[1])
    y, pv = y_all[valid], p[valid]
    kept_paths = None if paths is None else [str(q) for q, ok in zip(paths, valid, strict=True) if ok]
    sections = [
        _summary(metrics, int((~valid).sum())),
        _operating_point(metrics, y, pv, model_info) if len(names) == 2 else "",
        _per_class(metrics),
        _confusion(metrics),
        _task_figures(figures),
        _curves(metrics, y, pv, names),
        _calibration(metrics, y, pv, model_info),
        training_section(training_log, model_info),
        _mistakes(metrics, y, pv, kept_paths, names),
        _subgroups(metrics["subgroups"]) if metrics.get("subgroups") else "",
        render_audit_html(audit) if audit else "",
    ]
    ids = [part.split('"', 2)[1] for part in sections if part]
    head = _header(title, model_info, data_info, int(valid.sum()), int((~valid).sum()), ids)
    return write_text(path, _page(title, head + "".join(sections) + _footer(metrics)))
