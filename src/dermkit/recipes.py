"""Bundled recipes: ``dermkit train demo`` works from any folder, ``configs/<name>.yaml`` from a clone."""

from __future__ import annotations

from pathlib import Path

from dermkit.errors import ConfigError

RECIPE_DIR = Path(__file__).parent / "configs"


def recipe_names() -> list[str]:
    """Names of the bundled recipes."""
    return sorted(path.stem for path in RECIPE_DIR.glob("*.yaml"))


def resolve_recipe(name_or_path: str | Path) -> Path:
    """A YAML path as given, or the bundled recipe of that name (``demo``, ``binary_resnet18_albu``...)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    bundled = RECIPE_DIR / f"{path.stem}.yaml"
    if path.suffix in ("", ".yaml", ".yml") and bundled.is_file() and len(path.parts) <= 2:
        return bundled
    raise ConfigError(f"{name_or_path}: no such config file or bundled recipe; bundled: {', '.join(recipe_names())}")
