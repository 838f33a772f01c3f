"""Config text to nested dicts: YAML recipe files (strict about duplicate keys) and ``key=value`` overrides, the
dotted command-line form of a nested config (``trainer.max_epochs=5``). :mod:`dermkit.config` validates them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dermkit.errors import ConfigError

__all__ = ["deep_merge", "parse_overrides", "read_yaml_mapping"]


def parse_overrides(
    overrides: list[str] | tuple[str, ...], is_text: Callable[[str], bool] = lambda key: False
) -> dict[str, Any]:
    """Turn ``["data.root=x", "trainer.max_epochs=3"]`` into a nested dict; values are parsed as YAML scalars.

    Args:
        overrides: ``key=value`` strings with dotted keys.
        is_text: tells which dotted keys hold text (or lists of text): their values keep their spelling
            (``data.root=2024.10`` stays ``"2024.10"``, ``data.class_names=[01,02]`` stays ``["01", "02"]``).
    """
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. trainer.max_epochs=5)")
        loader = yaml.BaseLoader if is_text(key.strip()) else yaml.SafeLoader  # BaseLoader: every scalar is text
        try:
            value = yaml.load(raw, Loader=loader) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        value = None if value in ("null", "~") else value if loader is yaml.BaseLoader else _number_or_text(value)
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return nested


def _number_or_text(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as text; turn such text, also inside lists and dicts, into a float."""
    if isinstance(value, str):
        try:
            return float(value) if any(ch.isdigit() for ch in value) else value
        except ValueError:
            return value
    if isinstance(value, list):
        return [_number_or_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _number_or_text(item) for key, item in value.items()}
    return value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``update`` merged in recursively (dicts merge, everything else replaces)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML keeps the last silently,
    so a second ``data:`` section would drop the first one's ``root``)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML config file as a dict; one-line errors for a missing file, binary or invalid YAML, duplicate keys."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML config (not UTF-8 text)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        where = f" (line {mark.line + 1}{': ' + problem if problem else ''})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping of sections (data:, model:, ...), not {type(data).__name__}"
        )
    return data
