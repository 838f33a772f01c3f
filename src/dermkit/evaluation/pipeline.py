"""What ``dermkit evaluate`` and ``dermkit calibrate`` do, as library calls: data + model folder in, files out."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermkit.config import reader_options
from dermkit.data import read_dataset
from dermkit.data.records import ImageTable
from dermkit.errors import ConfigError, DataError
from dermkit.evaluation.calibration import CalibrationResult, fit_calibration
from dermkit.evaluation.evaluate import Evaluation, evaluate, select_split
from dermkit.evaluation.labels import parse_class_map
from dermkit.evaluation.thresholds import ThresholdRule, parse_rule
from dermkit.fileio import check_output, write_json
from dermkit.inference.runtime import BatchResult, is_onnx, load_predictor
from dermkit.models.spec import ModelSpec, resolve_model_dir, write_spec
from dermkit.progress import Reporter, silent
from dermkit.tasks.spbl import choose_head

_READ_ONLY = ("{what}: {model} is an exported ONNX file, whose model description is read-only; use the model "
              "folder, then export it again")  # fmt: skip


@dataclass
class EvaluationRun:
    """An evaluation written to a folder."""

    evaluation: Evaluation
    description: str
    files: dict[str, Path] = field(default_factory=dict)
    threshold_saved: bool = False
    audit: dict | None = None
    task: Any = None


def read_model_data(spec: ModelSpec, data: str | Path, data_options: Sequence[str] = ()) -> ImageTable:
    """Read labelled data for a model: reading the data it was trained on reuses the training run's reader options
    (``data.images_dir``, columns, ``data.class_names`` for index labels); ``data_options`` add to or replace them."""
    return read_dataset(data, **reader_options(training_data_config(spec, data), data_options))


def training_data_config(spec: ModelSpec, data: str | Path) -> dict | None:
    """The ``data`` section of the model's training config when ``data`` is the dataset it was trained on (by the
    absolute path recorded at training time; models without one never match)."""
    root = (spec.training.get("data") or {}).get("root")
    same = root is not None and Path(root) == Path(data).expanduser().resolve()
    return (spec.training.get("config") or {}).get("data") if same else None


def includes_training_images(spec: ModelSpec, data: str | Path, table: ImageTable) -> bool:
    """Whether ``table`` (chosen from ``data``) holds a train split, or is all of the data the model trained on."""
    splits = {record.split for record in table.records}
    return "train" in splits or (splits == {None} and training_data_config(spec, data) is not None)


def evaluate_to_folder(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    split: str = "auto",
    batch_size: int = 32,
    num_workers: int = 2,
    tta: str | None = None,
    bootstrap: int = 0,
    group_by: str | None = None,
    class_map: str | None = None,
    choose_threshold: str | None = None,
    save: bool = False,
    report: bool = False,
    audit: bool = False,
    seed: int = 0,
    data_options: Sequence[str] = (),
    progress: Reporter = silent,
    head: str | None = None,
    result: BatchResult | None = None,
) -> EvaluationRun:
    """Evaluate ``model`` on ``data`` and write ``metrics.json``, ``predictions.csv`` (and ``report.html`` plus the
    model's ``MODEL_CARD.md`` with ``report``); ``save`` stores a chosen threshold in the model's ``model.json``.

    Arguments mirror ``dermkit evaluate``'s options (see :func:`dermkit.evaluation.evaluate.evaluate`); ``audit``
    audits the whole dataset (every split: leakage is across splits) into ``audit.json`` and the report;
    ``data_options`` are ``data.KEY=VALUE`` reader options (see :func:`read_model_data`); ``progress`` shows the
    long steps (:mod:`dermkit.progress`); ``head`` picks an SPBL model's head (``svm``, ``cnn`` or ``both``);
    ``result`` holds predictions of the chosen images made beforehand (a sharded evaluation's, see
    :mod:`dermkit.evaluation.sharded`) instead of predicting here.
    """
    out = check_output(out, "folder")
    rule = _check_evaluate_options(model, choose_threshold, save=save, report=report)
    predictor = load_predictor(model, tta=tta)
    if head is not None:
        choose_head(predictor.spec, head)
    dataset = read_model_data(predictor.spec, data, data_options)
    table, description = select_split(dataset, split)
    evaluation = evaluate(predictor, table, batch_size=batch_size, num_workers=num_workers,
                          class_map=parse_class_map(class_map), bootstrap=bootstrap, group_by=group_by, seed=seed,
                          choose_threshold=rule, progress=progress,
                          **({} if result is None else {"result": result}))  # fmt: skip
    if includes_training_images(predictor.spec, data, table):
        evaluation.metrics["warnings"].append(
            "these images include training images (a train split, or the whole training dataset): the metrics are "
            "optimistic; evaluate held-out images (--split test)"
        )
    run = EvaluationRun(evaluation, description, task=predictor.task)
    model_dir = None if is_onnx(model) else resolve_model_dir(model)
    if rule is not None and save and model_dir is not None:
        write_spec(model_dir, evaluation.spec)
        run.threshold_saved = True
    if not report:  # a report left by an earlier evaluation into this folder would describe other numbers
        (out / "report.html").unlink(missing_ok=True)
    run.files["metrics"] = write_json(out / "metrics.json", evaluation.metrics)
    run.files["predictions"] = evaluation.write_predictions(out / "predictions.csv")
    if audit:
        from dermkit.data.audit import audit_dataset

        with progress(None, "auditing", "files") as step:
            run.audit = audit_dataset(dataset, workers=max(1, num_workers), progress=step).to_dict()
        run.files["audit"] = write_json(out / "audit.json", run.audit)
    if report:
        _write_report_and_card(run, out, predictor, table, Path(data).name, model_dir)
    return run


def _check_evaluate_options(
    model: str | Path, choose_threshold: str | None, *, save: bool, report: bool
) -> ThresholdRule | None:
    """The threshold rule of ``choose_threshold`` (None without one), once the options are known to fit together
    and the folders written to are writable."""
    if (save or report) and not is_onnx(model):  # model.json (the threshold) and MODEL_CARD.md go into its folder
        check_output(resolve_model_dir(model), "folder")
    if save and not choose_threshold:
        raise ConfigError("--save stores the threshold chosen by --choose-threshold (e.g. recall=0.999); none given")
    rule = parse_rule(choose_threshold) if choose_threshold else None
    if save and is_onnx(model):
        raise ConfigError(_READ_ONLY.format(model=model, what="--save"))
    return rule


def _write_report_and_card(
    run: EvaluationRun, out: Path, predictor: Any, table: ImageTable, data_name: str, model_dir: Path | None
) -> None:
    """Write ``report.html`` into ``out`` and ``MODEL_CARD.md`` into the model's folder (``out`` for an exported
    .onnx file, which has no folder: its description then comes from its metadata)."""
    from dermkit.reports.html_report import write_report
    from dermkit.reports.model_card import write_model_card

    evaluation = run.evaluation
    model_info = (predictor.spec.model_dump(mode="json") if model_dir is None
                  else json.loads((model_dir / "model.json").read_text(encoding="utf-8")))  # fmt: skip
    model_info["decision"] = evaluation.spec.decision.model_dump(mode="json")
    split_name = "/".join(table.splits) or "all"
    data_info = {"source": table.source, "split": split_name, "n": len(table),
                 "class_counts": dict(zip(table.class_names, table.class_counts(), strict=True))}  # fmt: skip
    run.files["report"] = write_report(
        out / "report.html", title=f"{model_info['architecture']['name']} on {data_name}",
        metrics=evaluation.metrics, y_true=evaluation.labels, proba=evaluation.proba,
        class_names=predictor.class_names, paths=evaluation.paths,
        training_log=None if model_dir is None else model_dir / "logs" / "metrics.csv", model_info=model_info,
        data_info=data_info, audit=run.audit, figures=predictor.task.report_figures(predictor.spec, evaluation),
    )  # fmt: skip
    run.files["model card"] = write_model_card((model_dir or out) / "MODEL_CARD.md", model_info=model_info,
                                               metrics=evaluation.metrics, data_info=data_info)  # fmt: skip


@dataclass
class CalibrationRun:
    """A fitted temperature, the data it was fitted on, and how the stored threshold moved with it."""

    result: CalibrationResult
    description: str
    threshold_before: float | None = None
    threshold_after: float | None = None
    saved: bool = False
    warnings: list[str] = field(default_factory=list)
    same_decisions: bool = True


def carry_threshold(threshold: float, old_temperature: float, new_temperature: float) -> float:
    """The threshold that makes exactly the same binary decisions after a temperature change.

    ``sigmoid(z / T_old) >= t`` iff ``z >= T_old * logit(t)`` iff ``sigmoid(z / T_new) >= sigmoid(logit(t) * T_old /
    T_new)`` (for a softmax pair, ``z`` is the logit difference), so an operating point chosen before calibration
    keeps its sensitivity and specificity.
    """
    if threshold <= 0.0 or threshold >= 1.0:
        return threshold
    scaled = math.log(threshold / (1.0 - threshold)) * old_temperature / new_temperature
    return 1.0 / (1.0 + math.exp(-scaled))


def calibrate_model(
    model: str | Path,
    data: str | Path,
    *,
    split: str = "auto",
    batch_size: int = 32,
    num_workers: int = 2,
    class_map: str | None = None,
    save: bool = True,
    data_options: Sequence[str] = (),
    progress: Reporter = silent,
) -> CalibrationRun:
    """Fit temperature scaling on held-out labelled data and (with ``save``) store it in ``model.json``.

    ``split="auto"`` uses the val split when the data has one, and refuses data that is only split into
    train/test: calibrating on training images would fit nothing, and on test images would leak. A stored binary
    threshold is carried over (:func:`carry_threshold`) so the model's decisions do not change.
    """
    if save and is_onnx(model):
        raise ConfigError(_READ_ONLY.format(model=model, what="calibrate (without --dry-run)"))
    if save:  # the temperature goes into model.json
        check_output(resolve_model_dir(model), "folder")
    predictor = load_predictor(model, tta="none")  # temperature scaling is fitted on plain logits
    if not predictor.task.calibratable:
        raise ConfigError(f"calibrate fits a temperature to one softmax/sigmoid head; a {predictor.spec.task} model "
                          "has none")  # fmt: skip
    table = read_model_data(predictor.spec, data, data_options)
    if split == "auto" and table.splits and "val" not in table.splits:
        raise DataError(f"{table.source}: no val split to calibrate on; pass --split NAME for held-out data")
    table, description = select_split(table, split, prefer=("val",))
    warnings = []
    if "test" in {record.split for record in table.records}:
        warnings.append("fitted on test images: metrics on them after calibration are optimistic; use the val split")
    if includes_training_images(predictor.spec, data, table):
        warnings.append("fitted on images the model was trained on: it is over-confident there, so the temperature "
                        "will be too low; use held-out images")  # fmt: skip
    decision = predictor.spec.decision
    if decision.tta != "none" and predictor.threshold is not None:
        warnings.append(f"the threshold was chosen with test-time augmentation ({decision.tta}); it is carried over "
                        f"exactly for single views only: choose it again (evaluate --tta {decision.tta} "
                        "--choose-threshold ... --save)")  # fmt: skip
    old_temperature, threshold = decision.temperature, predictor.threshold
    evaluation = evaluate(predictor.with_decision(temperature=1.0), table, batch_size=batch_size,
                          num_workers=num_workers, class_map=parse_class_map(class_map), progress=progress)  # fmt: skip
    result = fit_calibration(evaluation.logits, evaluation.labels)
    run = CalibrationRun(result, description, threshold, warnings=warnings, same_decisions=decision.tta == "none")
    changes: dict[str, Any] = {"temperature": result.temperature}
    if threshold is not None:
        run.threshold_after = changes["threshold"] = carry_threshold(threshold, old_temperature, result.temperature)
    if save:
        write_spec(resolve_model_dir(model), predictor.with_decision(**changes).spec)
        run.saved = True
    return run
