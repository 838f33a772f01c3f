"""The task contract: everything dermkit needs to know about a method, declared in one place.

A task (registered in :data:`TASKS`) declares its options (a pydantic section it validates), the targets it reads
from each record, how it builds its trainable module (:meth:`Task.build`, torch, imported lazily), the raw outputs
of its exported network, ``postprocess`` (numpy only: the PyTorch predictor and the ONNX Runtime predictor share
it), its evaluation, its CSV columns, its report figures and its block in ``model.json``. Config validation,
``train``, ``Predictor``, ``evaluate``, ``predict``, ``cv``, ``compare`` and the reports call these hooks through the
registry and never branch on which task it is.

This module imports neither torch nor timm: reading a model's description and post-processing its outputs must work
with onnxruntime and numpy alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from dermkit.errors import ConfigError, DermkitError, ModelFileError
from dermkit.registry import Registry, RegistryError

if TYPE_CHECKING:  # pragma: no cover
    from dermkit.config import ModelConfig, RunConfig
    from dermkit.data.records import ImageTable, Record
    from dermkit.models.spec import ModelSpec

TASKS: Registry[Task] = Registry("task")
T = TypeVar("T")


class TaskOptions(BaseModel):
    """A task's options (the ``task:`` section of a recipe); unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    name: str


@dataclass
class Built:
    """What :meth:`Task.build` returns: the trainable task module and how to rebuild its network.

    Attributes:
        module: a :class:`dermkit.tasks.training.TrainingTask` (``forward(batch) -> {"loss", "loss_<part>"...}``).
        architecture: keyword arguments of :func:`dermkit.models.create_model` (stored in ``model.json``).
    """

    module: Any
    architecture: dict[str, Any]


class Task:
    """Base class of a task definition; one instance per task lives in :data:`TASKS`.

    A multi-stage method may also define ``run(config, out_dir, **train_kwargs) -> TrainResult``:
    :func:`dermkit.engine.train.train` then defers to it (with ``resume``, ``strict``, ``overwrite``, ``callbacks``
    and ``data``), and it calls the engine's ``build_run`` / ``fit`` / ``export`` stages itself (SPBL's rounds).
    """

    name: ClassVar[str] = ""
    options: ClassVar[type[TaskOptions]] = TaskOptions
    outputs: ClassVar[tuple[str, ...]] = ("logits",)
    """Names of the exported network's outputs, in the order its ``forward`` returns them."""
    calibratable: ClassVar[bool] = False
    """Whether ``dermkit calibrate`` (temperature scaling of one softmax/sigmoid head) applies."""

    def parse_options(self, section: Mapping[str, Any]) -> TaskOptions:
        """Validate the ``task:`` section (one line per problem, naming ``task.<key>``)."""
        try:
            return self.options.model_validate(dict(section))
        except ValidationError as exc:
            lines = []
            for item in exc.errors():
                key = ".".join(str(part) for part in item["loc"])
                if item["type"] == "extra_forbidden":
                    valid = ", ".join(self.options.model_fields)
                    lines.append(f"task.{key}: unknown option of task '{self.name}'; valid: {valid}")
                else:
                    lines.append(f"task.{key}: {item['msg'].removeprefix('Value error, ')}")
            raise ConfigError("\n".join(lines)) from None

    # ---- training side (torch may be imported inside these methods) ----
    def item_targets(self, record: Record) -> dict[str, int | float]:
        """The targets a dataset item carries for ``record`` (``-1`` where unknown)."""
        return {"target": -1 if record.label is None else record.label}

    def check_data(self, table: ImageTable, options: TaskOptions, strict: bool = False) -> list[str]:
        """Check training data for this task; return warning lines (raise :class:`DataError` for errors)."""
        return []

    def build(self, config: RunConfig, class_names: Sequence[str], class_counts: Sequence[int]) -> Built:
        """Create the trainable module (model, loss, metrics) from the config."""
        raise NotImplementedError

    def decision(self, class_names: Sequence[str]) -> dict[str, Any]:
        """The decision rule a freshly trained model starts with (``model.json``'s ``decision``)."""
        return {}

    def spec_block(self, options: TaskOptions) -> dict[str, Any]:
        """The task's block in ``model.json``: what its outputs mean (bins, rules...)."""
        return options.model_dump(mode="json")

    # ---- inference side (numpy only) ----
    def postprocess(self, raw: Mapping[str, np.ndarray], spec: ModelSpec) -> dict[str, np.ndarray]:
        """Per-image outputs from the network's raw outputs.

        Args:
            raw: each of :attr:`outputs` as an array with a leading view axis (V, N, ...): V > 1 under test-time
                augmentation, whose views the task averages as it sees fit.
            spec: the model's description.

        Returns:
            Arrays with N rows each (what predictions, CSV rows and metrics are made of).
        """
        raise NotImplementedError

    def prediction(self, row: Mapping[str, np.ndarray], spec: ModelSpec) -> Any:
        """One image's prediction (an object with ``to_dict()``) from one row of :meth:`postprocess`'s output."""
        raise NotImplementedError

    def csv_header(self, spec: ModelSpec, labelled: bool) -> list[str]:
        """Columns of a predictions CSV after ``path`` and before ``error``."""
        raise NotImplementedError

    def csv_rows(
        self,
        spec: ModelSpec,
        outputs: Mapping[str, np.ndarray],
        readable: np.ndarray,
        targets: Mapping[str, np.ndarray] | None = None,
    ) -> list[list[Any]]:
        """The CSV cells of :meth:`csv_header` for every image (empty cells where unreadable); ``targets`` are the
        true values (in the model's terms) when the data is labelled."""
        raise NotImplementedError

    # ---- evaluation ----
    def headline(self) -> list[str]:
        """The metric names ``cv`` and ``compare`` summarise for this task."""
        return []

    def evaluate(self, predictor: Any, table: ImageTable, **options: Any) -> Any:
        """Evaluate ``predictor`` on labelled ``table``; returns a :class:`dermkit.evaluation.Evaluation`.

        The default runs :func:`dermkit.evaluation.evaluate.evaluate_with_hooks` over :meth:`targets`,
        :meth:`metrics`, :meth:`metric_arrays` and :meth:`metric_functions` (bootstrap CIs and subgroups included).
        """
        from dermkit.evaluation.evaluate import evaluate_with_hooks

        return evaluate_with_hooks(self, predictor, table, **options)

    def targets(
        self, table: ImageTable, spec: ModelSpec, class_map: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        """The true values of ``table`` in the model's terms (one array per target, NaN where unknown)."""
        raise NotImplementedError

    def metrics(self, spec: ModelSpec, outputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray]) -> dict:
        """``metrics.json``'s content for the readable rows' ``outputs`` and ``targets``."""
        raise NotImplementedError

    def metric_arrays(
        self, outputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(y, p)`` row-aligned arrays that :meth:`metric_functions` take (resampled together by the bootstrap)."""
        raise NotImplementedError

    def metric_functions(self, spec: ModelSpec) -> Mapping[str, Callable[[np.ndarray, np.ndarray], float]]:
        """The headline metrics as ``fn(y, p) -> float`` on :meth:`metric_arrays` (bootstrap CIs, subgroups)."""
        raise NotImplementedError

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """A few lines for the terminal: the headline metrics present in ``metrics`` (4 decimals)."""
        lines = [f"{'images':20s}{metrics.get('n', '?')}"]
        for name in self.headline():
            value = metrics.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                lines.append(f"{name:20s}{value:.4f}")
        return "\n".join(lines)

    def report_figures(self, spec: ModelSpec, evaluation: Any) -> list[tuple[str, Callable[[], Any]]]:
        """``(title, make_figure)`` pairs for the HTML report beyond its metric tables (matplotlib figures)."""
        return []


def get_task(name: str) -> Task:
    """The task registered as ``name``; an unknown name is a one-line error naming the known ones."""
    import dermkit.tasks  # noqa: F401  (registers the built-in tasks)

    if name not in TASKS:
        raise ModelFileError(f"unknown task '{name}'; known tasks: {', '.join(TASKS.names())}")
    return TASKS.get(name)


def register_task(task: type[Task]) -> type[Task]:
    """Class decorator: register one instance of ``task`` under ``task.name``."""
    TASKS.register(task.name, task())
    return task


def config_error(key: str, build: Callable[[], T]) -> T:
    """Run ``build()``; a ValueError / TypeError / unknown registered name becomes a one-line ConfigError naming
    ``key`` (the config section at fault)."""
    try:
        return build()
    except DermkitError:
        raise  # already one line
    except (ValueError, TypeError, RegistryError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


def network_options(model: ModelConfig, num_outputs: int, heads: dict[str, int] | None = None) -> tuple[dict, dict]:
    """Keyword arguments of :func:`dermkit.models.create_model` for training (with pretrained weights), and the
    architecture stored in ``model.json`` to rebuild it (never pretrained: the trained weights follow)."""
    architecture: dict[str, Any] = {
        "name": model.name,
        "num_outputs": num_outputs,
        "head": model.head,
        "head_hidden": model.head_hidden,
        "drop_rate": model.drop_rate,
        "stem": model.stem,
        "heads": heads,
        "kwargs": dict(model.kwargs),
    }
    training = {key: value for key, value in architecture.items() if key != "kwargs"}
    training.update(pretrained=model.pretrained, pretrained_file=model.pretrained_file, head_init=model.head_init)
    return {**training, **model.kwargs}, architecture
