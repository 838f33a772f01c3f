"""The sections of a run's configuration (``data``, ``model``, ``loss``, ``optim``, ``sched``, ``trainer``), each a
pydantic model that refuses unknown keys; :class:`dermkit.config.RunConfig` holds one of each.

Registered names (losses, optimisers, heads, samplers...) are checked against their registries, imported only when a
recipe is validated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dermkit.metrics.names import lower_is_better

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Section(BaseModel):
    """A config section: unknown keys are refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


class ReaderOptions(Section):
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


class ModelConfig(Section):
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


class LossConfig(Section):
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


class OptimConfig(Section):
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


class SchedConfig(Section):
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


class TrainerConfig(Section):
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
