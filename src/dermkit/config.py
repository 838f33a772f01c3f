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
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from dermkit.config_sections import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    ReaderOptions,
    SchedConfig,
    Section,
    TrainerConfig,
)
from dermkit.config_text import deep_merge, parse_overrides, read_yaml_mapping
from dermkit.errors import ConfigError, DermkitError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "READER_KEYS",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "ReaderOptions",
    "RunConfig",
    "SchedConfig",
    "TrainerConfig",
    "dump",
    "load",
    "reader_options",
    "split_reader_overrides",
    "validate",
]


class RunConfig(Section):
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
