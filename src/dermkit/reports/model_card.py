"""``MODEL_CARD.md``: what a model is, what it was trained and evaluated on, and what it must not be used for.

The section list follows M. Mitchell et al., "Model Cards for Model Reporting", FAT* 2019, trimmed to what
dermkit knows about a run. :func:`headline_metrics` and :func:`format_value` are shared with the HTML report
(:mod:`dermkit.reports.html_report`) so both show the same numbers the same way; this module imports no plotting code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dermkit import __version__
from dermkit.fileio import write_text
from dermkit.metrics.names import lower_is_better, metric_label
from dermkit.reports.numbers import UNDEFINED, as_number, format_number

__all__ = ["format_ci", "format_value", "headline_metrics", "write_model_card"]

# the headline cards, in display order (labels and directions: dermkit.metrics.names)
_HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "mauc", "macro_f1", "sensitivity", "specificity", "g_mean",
             "average_precision", "cohen_kappa", "top2_accuracy", "log_loss", "brier", "ece", "macro_precision",
             "macro_sensitivity", "macro_specificity", "youden", "quadratic_kappa", "mcc", "count_mae",
             "count_rmse")  # fmt: skip
_TASK_SPECIFIC = frozenset({"mauc", "top2_accuracy", "macro_precision", "macro_sensitivity", "macro_specificity",
                            "youden", "quadratic_kappa", "mcc", "count_mae", "count_rmse"})  # fmt: skip


def format_value(x: Any, digits: int = 3) -> str:
    """A metric value with ``digits`` decimals; None, NaN and non-numbers become ``"undefined"`` (never 0)."""
    return format_number(x, digits)


def format_ci(ci: dict | None, digits: int = 3) -> str:
    """``"[low, high]"`` of a bootstrap CI dict; empty string without one, ``"[undefined]"`` if its ends are NaN."""
    if not ci:
        return ""
    low, high = as_number(ci.get("low"), finite=False), as_number(ci.get("high"), finite=False)
    if low is None or high is None:
        return f"[{UNDEFINED}]"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def headline_metrics(metrics: dict) -> list[dict[str, Any]]:
    """The headline metrics of an evaluation, in display order, each with its CI when one was computed.

    Args:
        metrics: A :func:`~dermkit.metrics.classification.classification_metrics` dict, optionally with ``"ci"``.

    Returns:
        List of ``{"key", "label", "value", "ci", "lower_is_better"}``; ``value`` is None when undefined and
        ``ci`` is None when absent. Metrics that do not apply (MAUC for binary, sensitivity for multi-class) are
        left out; CI entries of other metrics are appended after the known ones.
    """
    cis = metrics.get("ci") or {}
    labels = list((metrics.get("confusion_matrix") or {}).get("labels") or metrics.get("per_class") or [])
    binary = len(labels) == 2
    pos = str(labels[1]) if binary else ""
    pos_row = (metrics.get("per_class") or {}).get(pos, {})
    derived = {
        "macro_f1": (metrics.get("macro") or {}).get("f1"),
        "sensitivity": pos_row.get("recall"),
        "specificity": pos_row.get("specificity"),
    }
    out = []
    for key in _HEADLINE:
        if key in ("sensitivity", "specificity") and not binary:
            continue
        value = derived[key] if key in derived else metrics.get(key)
        if value is None and key in cis:
            value = cis[key].get("point")
        if value is None and key not in cis and key in _TASK_SPECIFIC:
            continue  # multi-class only, or another task's
        if value is None and key not in cis and key not in metrics and key not in derived:
            continue  # not a metric of this task (acne has no ROC-AUC)
        out.append(
            {
                "key": key,
                "label": metric_label(key, pos),
                "value": as_number(value, finite=False),
                "ci": cis.get(key),
                "lower_is_better": lower_is_better(key),
            }
        )
    known = {row["key"] for row in out}
    for key, ci in cis.items():
        # operating-point intervals are shown with their operating points, not as headline cards
        if key not in known and isinstance(ci, dict) and not key.startswith("precision_at_recall_"):
            out.append(
                {
                    "key": key,
                    "label": metric_label(key, pos),
                    "value": as_number(ci.get("point"), finite=False),
                    "ci": ci,
                    "lower_is_better": lower_is_better(key),
                }
            )
    return out


def _md(text: Any) -> str:
    """Escape a user string for a Markdown table cell: no raw HTML tags, no column breaks, one line."""
    return str(text).replace("<", "&lt;").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]


def _model(info: dict) -> list[str]:
    arch, prep = info.get("architecture") or {}, info.get("preprocessing") or {}
    size = prep.get("image_size", "unknown")
    resize = (
        f", resized ({prep.get('resize_mode', 'shorter')} side) to {prep['resize']} first" if "resize" in prep else ""
    )
    rows = [
        ["Architecture", arch.get("name", "unknown")],
        ["Task / output", f"{info.get('task', 'classify')} / {info.get('output', 'unknown')}"],
        ["Input size", f"{size} x {size} RGB{resize}"],
        ["Normalisation", f"mean {prep.get('mean', 'unknown')}, std {prep.get('std', 'unknown')}"],
        ["Classes", ", ".join(str(c) for c in info.get("class_names") or []) or "unknown"],
    ]
    return ["## Model", "", *_table(["item", "value"], rows)]


def _training_data(info: dict) -> list[str]:
    data = (info.get("training") or {}).get("data") or {}
    names = [str(c) for c in info.get("class_names") or []]
    lines = ["## Training data", "", f"Source: {_md(data.get('source', 'unknown'))}", ""]
    splits = [s for s in ("train", "val") if isinstance(data.get(s), list)]
    if names and splits:
        rows = [[name, *(data[s][i] if i < len(data[s]) else "" for s in splits)] for i, name in enumerate(names)]
        rows.append(["total", *(sum(data[s]) for s in splits)])
        lines += _table(["class", *splits], rows)
    else:
        lines.append("Class counts were not recorded.")
    if data.get("val_source"):
        lines += ["", f"Validation data: {_md(data['val_source'])}."]
    return lines


def _recipe(info: dict) -> list[str]:
    training = info.get("training") or {}
    cfg = training.get("config") or {}
    model, loss, optim = cfg.get("model") or {}, cfg.get("loss") or {}, cfg.get("optim") or {}
    sched, trainer, data = cfg.get("sched") or {}, cfg.get("trainer") or {}, cfg.get("data") or {}
    if not cfg:
        return ["## Recipe", "", "The training configuration was not recorded."]
    rows = [
        ["model", f"{model.get('name')} (pretrained: {model.get('pretrained')})"],
        ["loss", loss.get("name")],
        ["optim", f"{optim.get('name')}, lr {optim.get('lr')}, weight decay {optim.get('weight_decay')}"],
        ["sched", f"{sched.get('name')}, warm-up epochs {sched.get('warmup_epochs')}"],
        [
            "epochs",
            f"{trainer.get('max_epochs')} max; best epoch {training.get('best_epoch')} "
            f"by {training.get('monitor', trainer.get('monitor'))}",
        ],
        ["augmentation", f"{data.get('train_transform')} (sampler: {data.get('sampler')})"],
        ["batch size / image size", f"{data.get('batch_size')} / {data.get('image_size')}"],
        ["seed", cfg.get("seed")],
    ]
    return ["## Recipe", "", *_table(["key", "value"], rows)]


def _evaluation(metrics: dict, data_info: dict | None) -> list[str]:
    d = data_info or {}
    where = f"{d.get('source', 'unknown data')}, split {d.get('split', 'unknown')}, n = {d.get('n', metrics.get('n'))}"
    rows = [
        [m["label"], format_value(m["value"]), format_ci(m["ci"]) or "not computed"] for m in headline_metrics(metrics)
    ]
    counts = d.get("class_counts") or {}
    if counts:
        where += "; " + ", ".join(f"{k}: {v}" for k, v in counts.items())
    lines = ["## Evaluation", "", f"Evaluated on {_md(where)}.", "", *_table(["metric", "value", "95% CI"], rows)]
    if metrics.get("ci_method"):
        lines += ["", f"Confidence intervals: {_md(metrics['ci_method'])}."]
    return lines


def _operating_point(info: dict, metrics: dict) -> list[str]:
    decision = info.get("decision") or {}
    threshold = metrics.get("threshold", decision.get("threshold"))
    source = decision.get("threshold_source") or ("argmax" if threshold is None else "not recorded")
    rule = "argmax of the class probabilities" if threshold is None else f"threshold {format_value(threshold, 4)}"
    lines = ["## Operating point", "", f"Decision rule: {_md(rule)} (source: {_md(source)})."]
    labels = (metrics.get("confusion_matrix") or {}).get("labels") or list(metrics.get("per_class") or [])
    if len(labels) == 2:
        head = {m["key"]: m for m in headline_metrics(metrics)}
        rows = [
            [head[k]["label"], format_value(head[k]["value"]), format_ci(head[k]["ci"]) or "not computed"]
            for k in ("sensitivity", "specificity")
        ]
        lines += [
            "",
            f"At this rule, for the positive class {_md(labels[1])}:",
            "",
            *_table(["", "value", "95% CI"], rows),
        ]
    return lines


def _limits(info: dict, metrics: dict) -> list[str]:
    data = (info.get("training") or {}).get("data") or {}
    temperature = as_number((info.get("decision") or {}).get("temperature"))
    calib = (
        "not calibrated (temperature 1)"
        if temperature in (None, 1.0)
        else f"temperature scaling with T = {temperature:.3f}"
    )
    lines = [
        "## Limits",
        "",
        f"- Trained on {_md(data.get('source', 'the listed training data'))} only. Performance may differ on other "
        "cameras and dermatoscopes, clinics, populations, body sites and skin tones (Fitzpatrick types).",
        f"- Calibration: {calib}; ECE on the evaluation data {format_value(metrics.get('ece'))}.",
    ]
    for column, result in (metrics.get("subgroups") or {}).items():
        for name, gap in (result.get("worst_gap") or {}).items():
            lines.append(
                f"- Subgroups by {_md(column)}: {_md(name)} differs by {format_value(gap.get('gap'))} "
                f"between {_md(gap.get('best'))} (best) and {_md(gap.get('worst'))} (worst)."
            )
    if not metrics.get("subgroups"):
        lines.append("- No subgroup analysis was run; check performance per skin type, site and device before use.")
    return lines


def write_model_card(path: str | Path, *, model_info: dict, metrics: dict, data_info: dict | None = None) -> Path:
    """Write a Markdown model card (``MODEL_CARD.md``) describing a model and its evaluation.

    Args:
        path: The Markdown file to write (atomically).
        model_info: The model's ``model.json`` as a dict; any key may be missing.
        metrics: An evaluation dict as for :func:`dermkit.reports.html_report.write_report` (``ci``, ``subgroups``
            optional).
        data_info: ``{"source", "split", "n", "class_counts"}`` of the evaluation data; keys may be missing.

    Returns:
        The path written.
    """
    name = (model_info.get("architecture") or {}).get("name", "dermkit model")
    lines = [
        f"# Model card: {_md(name)}",
        "",
        f"Created {_md(model_info.get('created', 'unknown'))}; card written {datetime.now(UTC):%Y-%m-%d}.",
        "",
    ]
    for part in (
        _model(model_info),
        _training_data(model_info),
        _recipe(model_info),
        _evaluation(metrics, data_info),
        _operating_point(model_info, metrics),
    ):
        lines += [*part, ""]
    lines += [
        "## Intended use",
        "",
        "Research and clinical decision support for skin-lesion image classification. The output is not a "
        "diagnosis: every result requires review by a qualified clinician, and the model must not be used to "
        "rule out disease on its own.",
        "",
        *_limits(model_info, metrics),
        "",
        "## Version",
        "",
        f"Model built with dermkit {_md(model_info.get('dermkit_version', 'unknown'))}; card written by dermkit "
        f"{__version__}.",
    ]
    return write_text(path, "\n".join(lines) + "\n")
