"""Acne severity grading and lesion counting as a task: LDL (``acne_ldl``) and LDS (``acne_lds``).

Methods: X. Wu et al., "Joint Acne Image Grading and Counting via Label Distribution Learning", ICCV 2019 (two heads
on a ResNet-50, Gaussian label distributions over 65 count bins, grade = Hayashi sums of the count distribution);
K. Prokhorov and A. A. Kalinin, "Improving Acne Image Grading with Label Distribution Smoothing", ISBI 2024
(arXiv 2403.00268: a 13-block grading head and a count target smoothed by a position-dependent epsilon).

This is the definition half (numpy only: the ONNX predictor shares ``postprocess``); the trainable module is
:class:`dermkit.tasks.acne_training.AcneTask` and the losses are :mod:`dermkit.losses.ldl`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from dermkit.tasks.acne_decode import decode_acne
from dermkit.tasks.base import Built, Task, TaskOptions, config_error, network_options, register_task

if TYPE_CHECKING:  # pragma: no cover
    from dermkit.config import RunConfig
    from dermkit.data.records import ImageTable
    from dermkit.models.spec import ModelSpec

HEADLINE = ("accuracy", "macro_precision", "macro_sensitivity", "macro_specificity", "youden", "quadratic_kappa",
            "mcc", "count_mae", "count_mse", "count_rmse")  # fmt: skip


class AcneOptions(TaskOptions):
    """Options of the acne tasks (METHODS.md sections 1 and 2).

    Attributes:
        num_bins: count bins; bin b holds count b + 1 (counts above the last bin are clipped into it).
        boundaries: the Hayashi criterion as data: the largest lesion count of each grade but the last.
        sigma: width of the Gaussian label distribution over count bins.
        lam: weight of the grading terms (1 - lam weighs the counting term).
        head_block: 0 for one grading-head class per grade (LDL); else blocks of this many count bins (LDS: 5).
        smoothing: LDS's epsilon-smoothed count target (``eps_min`` at grade centres, ``eps_max`` at borders).
        grade_rule: ``both`` (average of the two heads' grade probabilities), ``head`` or ``count``.
    """

    num_bins: int = Field(65, ge=2)
    boundaries: list[int] = Field(default_factory=lambda: [5, 20, 50])
    sigma: float = Field(3.0, ge=0.0)
    lam: float = Field(0.6, ge=0.0, le=1.0)
    head_block: int = Field(0, ge=0)
    smoothing: bool = False
    eps_min: float = Field(0.6, ge=0.0, le=1.0)
    eps_max: float = Field(1.0, ge=0.0, le=1.0)
    grade_rule: Literal["both", "head", "count"] = "both"

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, values: list[int]) -> list[int]:
        if not values or any(b <= a for a, b in itertools.pairwise(values)) or values[0] < 1:
            raise ValueError(f"boundaries must be increasing positive counts (e.g. [5, 20, 50]), got {values}")
        return values


class LDSOptions(AcneOptions):
    """LDS defaults: a 13-block grading head, smoothed count targets, lambda 0.3."""

    lam: float = Field(0.3, ge=0.0, le=1.0)
    head_block: int = Field(5, ge=0)
    smoothing: bool = True


def bin_ranges(options: AcneOptions) -> tuple[list[list[int]], list[list[int]], list[list[int]] | None]:
    """Per grade its inclusive count-bin range; per grading-head class its bin range; per grade its range of
    grading-head classes (None when the head has one class per grade)."""
    edges = [0, *options.boundaries, options.num_bins]
    ranges = [[lo, hi - 1] for lo, hi in itertools.pairwise(edges)]
    if ranges[-1][1] < ranges[-1][0]:
        raise ValueError(f"task.boundaries {options.boundaries} leave no bin for the last grade of {options.num_bins}")
    if not options.head_block:
        return ranges, ranges, None
    size = options.head_block
    blocks = [[start, min(start + size, options.num_bins) - 1] for start in range(0, options.num_bins, size)]
    owner = [next(g for g, (lo, hi) in enumerate(ranges) if lo <= first <= hi) for first, _ in blocks]
    nested = [[owner.index(g), len(owner) - 1 - owner[::-1].index(g)] for g in range(len(ranges)) if g in owner]
    if len(nested) != len(ranges):
        raise ValueError(f"task.head_block {size}: some grade has no block of its own")
    return ranges, blocks, nested


@dataclass(frozen=True)
class AcnePrediction:
    """One image's acne result: severity grade, lesion count, and both distributions."""

    grade: str
    grade_index: int
    count: int
    grade_probabilities: dict[str, float]
    count_distribution: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.grade, "grade": self.grade, "grade_index": self.grade_index, "count": self.count,
                "probabilities": self.grade_probabilities, "count_distribution": self.count_distribution}  # fmt: skip


@register_task
class AcneLDL(Task):
    """Joint acne grading + counting with label distribution learning (Wu et al., ICCV 2019)."""

    name = "acne_ldl"
    options = AcneOptions
    outputs = ("grade_logits", "count_logits")

    def item_targets(self, record: Any) -> dict[str, int | float]:
        return {"grade": -1 if record.label is None else record.label, "count": -1 if record.count is None else
                record.count}  # fmt: skip

    def check_data(self, table: ImageTable, options: Any, strict: bool = False) -> list[str]:
        from dermkit.data.acne import check_acne_counts

        return check_acne_counts(table, tuple(options.boundaries), options.num_bins, strict=strict)

    def build(self, config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]) -> Built:
        from dermkit.losses.ldl import LDLLoss, lds_epsilon
        from dermkit.models import create_model
        from dermkit.tasks.acne_training import AcneTask

        options = self.parse_options(config.task)
        ranges, head_ranges, _ = config_error("task", lambda: bin_ranges(options))
        if len(ranges) != len(class_names):
            raise_config(f"task.boundaries make {len(ranges)} grades but the data has {len(class_names)} classes "
                         f"({', '.join(class_names)})")  # fmt: skip
        heads = {"grade": len(head_ranges), "count": options.num_bins}
        train_options, architecture = network_options(config.model, options.num_bins, heads)
        model = config_error("model", lambda: create_model(**train_options))
        epsilon = lds_epsilon(ranges, options.num_bins, options.eps_min, options.eps_max) if options.smoothing else None
        loss = config_error("task", lambda: LDLLoss(ranges, None if head_ranges is ranges else head_ranges,
                                                     lam=options.lam, sigma=options.sigma,
                                                     smoothing_epsilon=epsilon))  # fmt: skip
        return Built(AcneTask(model, loss, ranges, config.model.freeze_batchnorm), architecture)

    def spec_block(self, options: Any) -> dict[str, Any]:
        ranges, _, nested = bin_ranges(options)
        return {**options.model_dump(mode="json"), "ranges": ranges, "head_grade_ranges": nested}

    def postprocess(self, raw: Mapping[str, np.ndarray], spec: ModelSpec) -> dict[str, np.ndarray]:
        block = spec.task_options
        views = [
            decode_acne(grade, count, ranges=block["ranges"], head_grade_ranges=block.get("head_grade_ranges"),
                        grade_rule=block.get("grade_rule", "both"))
            for grade, count in zip(raw["grade_logits"], raw["count_logits"], strict=True)
        ]  # fmt: skip
        proba = np.mean([view["grade_proba"] for view in views], axis=0)
        count_proba = np.mean([view["count_proba"] for view in views], axis=0)
        return {"proba": proba, "grade": proba.argmax(axis=1).astype(np.float64),
                "count": count_proba.argmax(axis=1) + 1.0, "count_proba": count_proba}  # fmt: skip

    def prediction(self, row: Mapping[str, np.ndarray], spec: ModelSpec) -> AcnePrediction:
        names, index = spec.class_names, int(row["grade"])
        return AcnePrediction(names[index], index, int(row["count"]),
                              {name: float(p) for name, p in zip(names, row["proba"], strict=True)},
                              [float(p) for p in row["count_proba"]])  # fmt: skip

    def csv_header(self, spec: ModelSpec, labelled: bool) -> list[str]:
        truth = ["true_grade", "true_count"] if labelled else []
        return [*truth, "grade", "count", *(f"p_{name}" for name in spec.class_names)]

    def csv_rows(
        self,
        spec: ModelSpec,
        outputs: Mapping[str, np.ndarray],
        readable: np.ndarray,
        targets: Mapping[str, np.ndarray] | None = None,
    ) -> list[list[Any]]:
        names, rows = spec.class_names, []
        for i, ok in enumerate(readable):
            truth = [] if targets is None else [names[int(targets["grade"][i])], _count_cell(targets["count"][i])]
            cells = [names[int(outputs["grade"][i])], int(outputs["count"][i]),
                     *(f"{p:.6f}" for p in outputs["proba"][i])] if ok else [""] * (2 + len(names))  # fmt: skip
            rows.append([*truth, *cells])
        return rows

    def headline(self) -> list[str]:
        return list(HEADLINE)

    def targets(self, table: ImageTable, spec: ModelSpec, class_map: Mapping[str, str] | None = None) -> dict:
        """True grades (model's order, matched by name) and counts (NaN where unknown) of ``table``."""
        from dermkit.evaluation.labels import align_labels

        grades = align_labels(table, spec.class_names, class_map)
        counts = np.array([np.nan if r.count is None else r.count for r in table.records], dtype=np.float64)
        return {"grade": grades, "count": counts, "label": grades}

    def metric_arrays(self, outputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray]) -> tuple:
        """``(y, packed)`` for the bootstrap: true grades and columns (predicted grade, true count, predicted count)."""
        packed = np.stack([outputs["grade"], targets["count"], outputs["count"]], axis=1)
        return np.asarray(targets["grade"], dtype=np.int64), packed

    def metric_functions(self, spec: ModelSpec) -> dict:
        """Each headline metric as ``fn(y, packed) -> float`` (see :meth:`metric_arrays`)."""
        from dermkit.metrics.acne import counting_metrics, grading_metrics

        names = spec.class_names

        def grading(key: str) -> Any:
            return lambda y, p: grading_metrics(y, p[:, 0].astype(np.int64), names)[key]

        def counting(key: str) -> Any:
            def fn(y: np.ndarray, p: np.ndarray) -> float:
                known = np.isfinite(p[:, 1])
                return counting_metrics(p[known, 1], p[known, 2])[key] if known.any() else float("nan")

            return fn

        grade_keys = ("accuracy", "macro_precision", "macro_sensitivity", "macro_specificity", "youden",
                      "quadratic_kappa", "mcc")  # fmt: skip
        return {**{key: grading(key) for key in grade_keys},
                **{f"count_{key}": counting(key) for key in ("mae", "mse", "rmse")}}  # fmt: skip

    def metrics(self, spec: ModelSpec, outputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray]) -> dict:
        """The full metrics.json content: grading metrics, counting metrics (true names: RMSE is not "MSE")."""
        from dermkit.metrics.acne import counting_metrics, grading_metrics

        metrics = grading_metrics(targets["grade"], outputs["grade"].astype(np.int64), spec.class_names)
        known = np.isfinite(targets["count"])
        counting = counting_metrics(targets["count"][known], outputs["count"][known]) if known.any() else {}
        metrics.update({f"count_{key}": value for key, value in counting.items()})
        metrics["count_n"] = int(known.sum())
        return metrics

    def report_figures(self, spec: ModelSpec, evaluation: Any) -> list[tuple[str, Any]]:
        from dermkit.reports.figures import count_scatter_figure

        true, predicted = evaluation.targets["count"], evaluation.outputs["count"]
        return [("Predicted vs true lesion count", lambda: count_scatter_figure(true, predicted))]


@register_task
class AcneLDS(AcneLDL):
    """Acne grading + counting with label distribution smoothing (Prokhorov & Kalinin, ISBI 2024)."""

    name = "acne_lds"
    options = LDSOptions


def _count_cell(value: float) -> Any:
    return "" if not np.isfinite(value) else int(value)


def raise_config(message: str) -> None:
    """Raise a one-line :class:`ConfigError`."""
    from dermkit.errors import ConfigError

    raise ConfigError(message)
