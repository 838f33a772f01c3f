"""``key=value`` overrides: the dotted command-line form of a nested config (``trainer.max_epochs=5``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from dermkit.errors import ConfigError

__all__ = ["deep_merge", "parse_overrides"]


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
