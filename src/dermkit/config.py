"""Typed run configuration: a YAML recipe plus dotted ``key=value`` overrides, validated by pydantic.

Example:
    >>> cfg = load("configs/demo.yaml", ["data.root=data/synth", "trainer.max_epochs=3"])
    >>> cfg.model.name
    'resnet18'

Unknown keys fail and list the valid ones; wrong types name the key and the expected type. Components never receive
this object: the engine unpacks it into the typed keyword arguments of the ``create_<kind>()`` factories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dermkit.config_text import deep_merge, parse_overrides, read_yaml_mapping
from dermkit.errors import ConfigError, DermkitError
from dermkit.metrics.names import lower_is_better

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


class ReaderOptions(_Section):
    """How a dataset is read (rather than trained on): the ``data.*`` keys every command that reads data takes.

    The one declaration of the reader options: :data:`READER_KEYS` and the readers' own options
    (:class:`dermkit.data.formats.ReadOptions`) are derived from it.
    """

    format: str | None = None
    class_names: list[str] | None = None
    path_column: str | None = None
    label_column: str | None = None
    split_column: str | None = None
    group_column: str | None = None
    count_column: str | None = None
    images_dir: str | None = None
    fold: int = Field(0, ge=0)

    @field_validator("class_names")
    @classmethod
    def _unique_class_names(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and len(set(names)) != len(names):
            raise ValueError(f"class names must be unique, got {names}")
        return names


def _registered(kind: str, module: str, registry: str, name: str | None) -> str | None:
    """``name`` if it is registered in ``module.registry`` (imported here, so config imports no component module
    until a recipe is validated); otherwise a ValueError listing the registered names."""
    import importlib

    known = getattr(importlib.import_module(module), registry)
    if name is not None and name not in known:
        raise ValueError(f"unknown {kind} '{name}'; choose one of: {', '.join(known.names())}")
    return name


class DataConfig(ReaderOptions):
    """Where the images are and how they are read, augmented and batched."""

    root: str | None = None
    image_size: int = Field(224, ge=8)
    resize: int | None = Field(None, ge=8)
    train_resize: int | None = Field(None, ge=8)
    resize_mode: Literal["shorter", "square", "pad_square"] = "shorter"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    train_transform: str = "light"
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    num_workers: int | None = Field(None, ge=0)  # None: the usable cores but one; 0 for arrays held in memory
    cache: str | None = None  # decoded-image cache: None, auto (~/.cache/dermkit/decoded) or a folder
    sampler: str | None = None
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    positive_class: str | None = None
    drop_last: bool = False

    @property
    def resolved_resize(self) -> int:
        """The resize before the crop: ``resize`` or, when unset, the ImageNet ratio 256/224 of ``image_size``."""
        return self.resize if self.resize is not None else round(self.image_size * 256 / 224)

    @field_validator("sampler")
    @classmethod
    def _registered_sampler(cls, name: str | None) -> str | None:
        from dermkit.data.samplers import SAMPLERS  # here, not at the top: config imports no component module

        if name is not None and name not in SAMPLERS:
            raise ValueError(f"unknown sampler '{name}'; choose one of: {', '.join(SAMPLERS.names())}")
        return name

    @property
    def resolved_train_resize(self) -> int:
        """The resize before the training crop: ``train_resize`` or, when unset, the evaluation resize."""
        return self.train_resize if self.train_resize is not None else self.resolved_resize

    @model_validator(mode="after")
    def _resize_covers_crop(self) -> DataConfig:
        if self.resolved_resize < self.image_size:
            raise ValueError(f"data.resize ({self.resolved_resize}) must be >= data.image_size ({self.image_size})")
        if self.resolved_train_resize < self.image_size:
            raise ValueError(f"data.train_resize ({self.train_resize}) must be >= data.image_size ({self.image_size})")
        return self


class ModelConfig(_Section):
    """The network: a timm backbone by name and a new classification head."""

    name: str = "resnet18"
    pretrained: bool = False
    pretrained_file: str | None = None
    head: str = "linear"
    head_hidden: int = Field(256, ge=1)
    head_init: Literal["xavier", "normal", "default"] = "xavier"
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0)
    stem: Literal["default", "cifar"] = "default"
    freeze_batchnorm: bool = False
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("head")
    @classmethod
    def _registered_head(cls, name: str) -> str:
        return _registered("head", "dermkit.models.heads", "HEADS", name)


class LossConfig(_Section):
    """The training loss; ``bce`` trains a single logit for two classes. The options after ``class_weights`` are
    loss-specific: unset (None) ones are not passed, and a loss given one it does not take refuses it, naming it;
    their ranges are checked by the loss (``dermkit.losses``)."""

    name: str = "ce"

    @field_validator("name")
    @classmethod
    def _registered_loss(cls, name: str) -> str:
        return _registered("loss", "dermkit.losses.classification", "LOSSES", name)

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    class_weights: Literal["balanced", "effective_number"] | list[float] | None = None
    gamma: float | None = None  # focal; class_balanced with base=focal
    beta: float | None = None  # effective number: class_balanced, ldam (DRW), class_weights=effective_number
    base: str | None = None  # class_balanced: ce or focal
    tau: float | None = None  # logit_adjusted
    max_m: float | None = None  # ldam
    s: float | None = None  # ldam
    drw_epoch: int | None = None  # ldam
    bins: int | None = None  # ghm_c
    momentum: float | None = None  # ghm_c


class OptimConfig(_Section):
    """Optimiser and its parameter groups."""

    name: str = "adamw"

    @field_validator("name")
    @classmethod
    def _registered_optimizer(cls, name: str) -> str:
        return _registered("optimizer", "dermkit.engine.optim", "OPTIMIZERS", name)

    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    head_lr_mult: float = Field(1.0, gt=0.0)


class SchedConfig(_Section):
    """Learning-rate schedule. ``warmup_cosine`` steps per batch; ``plateau`` per epoch on ``monitor``."""

    name: str | None = None

    @field_validator("name")
    @classmethod
    def _registered_schedule(cls, name: str | None) -> str | None:
        return _registered("schedule", "dermkit.engine.optim", "SCHEDULERS", name)

    warmup_epochs: float = Field(0.0, ge=0.0)
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0.0)
    step_size: int = Field(30, ge=1)
    milestones: list[int] | None = None
    gamma: float = Field(0.1, gt=0.0)
    monitor: str = "val/loss"


class TrainerConfig(_Section):
    """Options passed to the Lightning Trainer (devices and strategy pass straight through, so DDP needs no code)."""

    max_epochs: int = Field(10, ge=1)
    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    num_nodes: int = Field(1, ge=1)  # machines; devices are per machine (torchrun --nnodes, #SBATCH --nodes)
    strategy: str = "auto"
    sync_batchnorm: bool = False  # batch-norm statistics over every process's batch (small per-GPU batches)
    precision: str = "32"
    monitor: str = "val/loss"
    monitor_mode: Literal["min", "max"] | None = None
    early_stopping_patience: int | None = Field(None, ge=1)
    accumulate_grad_batches: int = Field(1, ge=1)
    gradient_clip_val: float | None = Field(None, ge=0.0)
    check_val_every_n_epoch: int = Field(1, ge=1)
    limit_train_batches: float | int = Field(1.0, gt=0)  # a fraction of the batches, or a count
    limit_val_batches: float | int = Field(1.0, ge=0)  # 0 skips validation
    log_every_n_steps: int = Field(10, ge=1)
    deterministic: bool = False
    progress_bar: bool = True
    channels_last: bool = False  # NHWC weights and inputs: faster convolutions on CPU (oneDNN) and tensor cores
    compile: bool = False  # torch.compile the task (a C++ compiler on CPU; minutes of compiling before step one)
    benchmark: bool = True  # cudnn.benchmark: pick the fastest convolution algorithms (GPU; off when deterministic)
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0)  # keep an exponential moving average of the weights
    ema_bn_images: int = Field(2048, ge=0)  # its batch-norm statistics re-measured on this many images (0: averaged)
    skip_nonfinite: int = Field(0, ge=0)  # NaN/inf training losses skipped (with a warning each) before stopping

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @property
    def resolved_monitor_mode(self) -> str:
        """``min`` for losses and errors, ``max`` for everything else, unless set."""
        if self.monitor_mode is not None:
            return self.monitor_mode
        return "min" if lower_is_better(self.monitor) else "max"


class RunConfig(_Section):
    """A whole run: what ``dermkit train`` reads from a recipe."""

    task: dict[str, Any] = Field(default_factory=lambda: {"name": "classify"}, validate_default=True)
    name: str | None = None
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    sched: SchedConfig = Field(default_factory=SchedConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)

    @field_validator("task", mode="before")
    @classmethod
    def _task_section(cls, value: object) -> object:
        """``task: acne_lds`` is short for ``task: {name: acne_lds}``; the task validates its own options."""
        section = {"name": value} if isinstance(value, str) else value
        if not isinstance(section, Mapping) or not isinstance(section.get("name"), str):
            raise ValueError("give the task as a name (task: classify) or a section with a name (task: {name: ...})")
        from dermkit.tasks.base import get_task

        try:
            task = get_task(section["name"])
        except DermkitError as exc:
            raise ValueError(str(exc)) from None
        return task.parse_options(section).model_dump(mode="json")

    @property
    def task_name(self) -> str:
        """The registered name of the run's task."""
        return str(self.task["name"])


def _is_text_key(dotted: str) -> bool:
    """Whether a dotted config key holds text or a list of text (its override keeps the spelling typed)."""
    *sections, name = dotted.split(".")
    field = _section_model(tuple(sections)).model_fields.get(name)
    return field is not None and field.annotation in (str, str | None, list[str], list[str] | None)


def _section_model(location: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = RunConfig
    for part in location:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model


def format_validation_error(error: ValidationError, source: str, overridden: frozenset[str] = frozenset()) -> str:
    """One line per problem, each naming the dotted key and what is valid, and where the value came from (the
    file ``source``, or a ``key=value`` override when the key is in ``overridden``)."""
    lines = []
    for item in error.errors():
        location = tuple(part for part in item["loc"] if not isinstance(part, int) or item["type"] != "extra_forbidden")
        key = ".".join(str(part) for part in location)
        if item["type"] == "extra_forbidden":
            parent = _section_model(location[:-1])
            valid = ", ".join(parent.model_fields)
            lines.append(
                f"{'override' if key in overridden else source}: unknown key '{key}'; valid keys here: {valid}"
            )
        else:
            message = item["msg"].removeprefix("Value error, ")
            origin = "override" if key in overridden or any(o.startswith(f"{key}.") for o in overridden) else source
            got = "" if isinstance(item.get("input"), dict) else f" (got {item.get('input')!r})"
            lines.append(f"{origin}: {key or 'config'}: {message}{got}")
    return "\n".join(lines)


def validate(data: dict[str, Any], source: str = "config", overridden: frozenset[str] = frozenset()) -> RunConfig:
    """Validate a plain dict as a :class:`RunConfig`, raising :class:`ConfigError` with readable lines."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, overridden)) from None


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Load a YAML recipe (or the defaults when ``path`` is None) and apply dotted overrides.

    Args:
        path: a YAML file such as ``configs/binary_resnet18_albu.yaml``.
        overrides: ``key=value`` strings, e.g. ``("data.root=~/isic", "model.pretrained=false")``.

    Returns:
        The validated config; ``name`` defaults to the file's stem.
    """
    data = read_yaml_mapping(Path(path)) if path is not None else {}
    task = data.get("task", "classify")
    data["task"] = {"name": task} if isinstance(task, str) else task  # so task.KEY=VALUE overrides merge into it
    data = deep_merge(data, parse_overrides(list(overrides), _is_text_key))
    source = str(path) if path is not None else "config"
    config = validate(data, source, frozenset(item.partition("=")[0].strip() for item in overrides))
    if config.name is None and path is not None:
        config.name = Path(path).stem
    return config


READER_KEYS = tuple(ReaderOptions.model_fields)
"""The ``data.*`` keys that say how a dataset is read (rather than trained on); commands that read data take them."""


def reader_options(data: DataConfig | Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Keyword options of :func:`dermkit.data.read_dataset` from a data config and/or ``data.KEY=VALUE`` overrides.

    Args:
        data: the ``data`` section of a run's config (e.g. the one stored in ``model.json``): its reader keys are
            the defaults.
        overrides: ``data.images_dir=../images``, ``data.class_names=[benign,malignant]``...; other keys are an error
            listing the valid ones.

    Returns:
        ``{key: value}`` for the reader keys that are set.
    """
    base = data.model_dump() if isinstance(data, DataConfig) else dict(data or {})
    chosen = {key: base.get(key) for key in READER_KEYS}
    given = parse_overrides(list(overrides), _is_text_key).get("data", {})
    if not isinstance(given, dict):
        raise ConfigError(f"give reader options as data.KEY=VALUE (e.g. data.images_dir=../images), not data={given}")
    unknown = [item.partition("=")[0] for item in overrides if not item.startswith("data.")]
    unknown += sorted(f"data.{key}" for key in set(given) - set(READER_KEYS))
    if unknown:
        valid = ", ".join(f"data.{key}" for key in READER_KEYS)
        raise ConfigError(f"unknown dataset option '{unknown[0]}'; valid: {valid}")
    try:
        checked = DataConfig(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"data.{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    chosen.update({key: getattr(checked, key) for key in given})
    return {key: value for key, value in chosen.items() if value is not None}


def split_reader_overrides(arguments: Iterable[str]) -> tuple[list[str], list[str]]:
    """Separate ``data.KEY=VALUE`` reader options from the other arguments (paths), each in its given order."""
    paths: list[str] = []
    options: list[str] = []
    for item in arguments:
        (options if item.startswith("data.") and "=" in item else paths).append(item)
    return paths, options


def dump(config: RunConfig) -> str:
    """The config as YAML, every default spelled out (what ``runs/<name>/config.yaml`` holds)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
