"""Evaluating a classifier: metrics, operating points, a chosen threshold, bootstrap CIs and subgroups.

The dataset's classes are matched to the model's by name (``class_map`` renames data classes first), so a test folder
that lacks a class or orders classes differently still evaluates correctly; a class the model does not know is a
clear error. Metrics undefined on this data (e.g. recall of an absent class) are reported as undefined, with a
warning, never as 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from dermkit.data.records import ImageTable
from dermkit.errors import ConfigError, NothingReadableError
from dermkit.evaluation.evaluate import Evaluation, collect_warnings, prediction_table
from dermkit.evaluation.labels import align_labels
from dermkit.evaluation.thresholds import ThresholdRule
from dermkit.evaluation.thresholds import choose_threshold as pick_threshold
from dermkit.metrics import functional as F
from dermkit.metrics.classification import classification_metrics
from dermkit.metrics.headline import bootstrap_metrics, headline_functions, subgroup_metrics
from dermkit.metrics.operating_point import operating_points
from dermkit.progress import Reporter, silent


def _set_threshold(predictor: Any, rule: ThresholdRule, y: np.ndarray, proba: np.ndarray, table: ImageTable) -> Any:
    """A new predictor whose threshold is chosen by ``rule`` on these labels and probabilities."""
    if len(predictor.class_names) != 2:
        raise ConfigError(f"--choose-threshold applies to two-class models; this one has {len(predictor.class_names)}")
    splits = sorted({record.split for record in table.records if record.split})
    chosen = predictor.with_decision(
        threshold=pick_threshold(rule, y, proba[:, 1]),
        threshold_source=f"{rule} on {table.source}" + (f" ({'/'.join(splits)})" if splits else ""),
        tta=predictor.tta or "none",  # the probabilities the threshold was chosen on
        positive_class=predictor.spec.decision.positive_class or predictor.class_names[1],
    )
    if "test" in splits:
        warnings.warn(
            "the threshold was chosen on test data, so metrics at it are optimistic; choose it on the "
            "val split (--split val) and evaluate on test",
            UserWarning,
            stacklevel=3,
        )
    return chosen


def training_counts(spec: Any) -> list[int] | None:
    """The model's training images per class (``model.json``'s training block), for the shot groups; None when
    unknown or not one count per class."""
    counts = (spec.training.get("data") or {}).get("train")
    return list(counts) if isinstance(counts, list) and len(counts) == len(spec.class_names) else None


def evaluate_classifier(
    predictor: Any,
    table: ImageTable,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    class_map: Mapping[str, str] | None = None,
    bootstrap: int = 0,
    group_by: str | None = None,
    seed: int = 0,
    choose_threshold: ThresholdRule | None = None,
    progress: Reporter = silent,
    result: Any = None,
) -> Evaluation:
    """Predict every image of ``table`` and compute the metrics on the readable ones.

    Args:
        predictor: the model (its stored threshold, temperature and test-time augmentation apply).
        table: labelled records (already restricted to the split to evaluate).
        batch_size: images per forward pass.
        num_workers: decoding processes.
        class_map: data class name -> model class name.
        bootstrap: resamples for 95 % confidence intervals of the headline metrics (0: none). Patients are
            resampled when the records carry a patient/group id, images otherwise.
        group_by: a manifest column (e.g. ``fitzpatrick``); every headline metric is reported per value.
        seed: bootstrap seed.
        choose_threshold: for two classes, pick the decision threshold on this data by this rule before computing
            the metrics; ``predictor`` is not changed: the evaluation's ``spec`` holds the new rule (the caller
            decides whether to save it).
        progress: shows the long steps (predicting, bootstrap, subgroups); see :mod:`dermkit.progress`.
        result: predictions of ``table``'s records made beforehand (a
            :class:`~dermkit.inference.predictor.BatchResult`, e.g. merged from a sharded evaluation's parts);
            None predicts here.

    Raises:
        NothingReadableError: not one image could be read.
    """
    labels = align_labels(table, predictor.class_names, class_map)
    if 0 < bootstrap < 100:
        raise ConfigError(f"--bootstrap {bootstrap}: a 95% interval needs at least 100 resamples (1000 recommended)")
    if result is None:
        with progress(len(table), "predicting", "images") as step:
            result = predictor.predict_records(table.records, batch_size=batch_size, num_workers=num_workers,
                                               progress=step)  # fmt: skip
    readable = result.readable
    if not readable.any():
        first = result.errors[0]
        raise NothingReadableError(f"{table.source}: none of the {len(table)} images could be read (first: {first})")
    y = labels[readable]
    proba = F.check_proba(result.proba[readable], y)  # float64 rows summing to 1: the array every metric below sees
    names = predictor.class_names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if choose_threshold is not None:
            predictor = _set_threshold(predictor, choose_threshold, y, proba, table)
        metrics = classification_metrics(y, proba, names, threshold=predictor.threshold,
                                         train_counts=training_counts(predictor.spec))  # fmt: skip
        if len(names) == 2:
            metrics["operating_points"] = operating_points(y, proba[:, 1])
    metrics["decision"] = predictor.spec.decision.model_dump(mode="json")
    metrics["unreadable"] = int((~readable).sum())
    metrics["tta"] = predictor.tta or "none"
    metrics["temperature"] = predictor.spec.decision.temperature
    metrics["warnings"] = collect_warnings(caught)
    records = [record for record, ok in zip(table.records, readable, strict=True) if ok]
    functions = headline_functions(len(names), predictor.threshold)
    patients = [record.group for record in records]
    groups = patients if any(patients) else None
    if bootstrap:
        with progress(bootstrap, "bootstrap", "resamples") as step:
            metrics["ci"] = bootstrap_metrics(functions, y, proba, n_resamples=bootstrap, groups=groups, seed=seed,
                                              progress=step)  # fmt: skip
        unit = "patients" if groups is not None else "images"
        metrics["ci_method"] = f"95% percentile bootstrap, {bootstrap} resamples of {unit}"
    if group_by:
        values = [value for value, ok in zip(table.column_values(group_by), readable, strict=True) if ok]
        with progress(None, f"subgroups by {group_by}", "resamples" if bootstrap else "groups") as step:
            metrics["subgroups"] = {group_by: subgroup_metrics(y, proba, values, functions, n_resamples=bootstrap,
                                                               groups=groups, seed=seed, progress=step)}  # fmt: skip
    header, rows = prediction_table(predictor, table, result.outputs, result.errors, {"label": labels})
    paths = [str(record.path) for record in table.records]
    return Evaluation(metrics, header, rows, result.proba, result.logits, labels, list(result.errors), paths,
                      result.outputs, {"label": labels}, predictor.spec)  # fmt: skip
