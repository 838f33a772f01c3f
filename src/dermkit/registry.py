"""One small registry class, used once per kind (models, losses, data formats, transform presets, ...).

Example:
    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("ce")
    ... def make_ce(**kwargs): ...
    >>> LOSSES.get("ce")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """A name that is not registered, or registered twice. ``str()`` gives the plain message."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects of one kind; duplicate names raise, misses list the valid choices.

    Args:
        kind: what is registered, used in error messages (``"loss"`` gives ``unknown loss 'x'``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator that does so."""
        if obj is not None:
            self._add(name, obj)
            return obj

        def decorator(item: T) -> T:
            self._add(name, item)
            return item

        return decorator

    def _add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise RegistryError(f"{self.kind} '{name}' is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """Return the object registered as ``name``; an unknown name raises, listing every valid one."""
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
