"""dermkit.registry: one small name -> object registry per kind."""

from __future__ import annotations

import pytest

from dermkit.registry import Registry, RegistryError


def test_register_as_decorator_returns_the_object_and_get_finds_it() -> None:
    registry: Registry[object] = Registry("widget")

    @registry.register("round")
    def make_round() -> str:
        return "round"

    assert make_round() == "round"  # the decorator hands back the function itself
    assert registry.get("round") is make_round


def test_register_directly_with_an_object() -> None:
    registry: Registry[int] = Registry("number")
    assert registry.register("one", 1) == 1
    assert registry.get("one") == 1


def test_names_are_sorted_and_container_protocol_works() -> None:
    registry: Registry[int] = Registry("number")
    for name, value in (("b", 2), ("c", 3), ("a", 1)):
        registry.register(name, value)
    assert registry.names() == ["a", "b", "c"]
    assert list(registry) == ["a", "b", "c"]
    assert len(registry) == 3
    assert "a" in registry and "z" not in registry


def test_duplicate_name_raises_and_keeps_the_first() -> None:
    registry: Registry[int] = Registry("number")
    registry.register("one", 1)
    with pytest.raises(RegistryError, match="number 'one' is already registered"):
        registry.register("one", 11)
    with pytest.raises(RegistryError, match="already registered"):
        registry.register("one")(12)
    assert registry.get("one") == 1


def test_miss_lists_every_choice_with_the_kind() -> None:
    registry: Registry[int] = Registry("loss")
    registry.register("ce", 1)
    registry.register("bce", 2)
    with pytest.raises(RegistryError) as info:
        registry.get("focal")
    assert str(info.value) == "unknown loss 'focal'; choose one of: bce, ce"


def test_registry_error_is_a_key_error_with_a_plain_message() -> None:
    registry: Registry[int] = Registry("thing")
    with pytest.raises(KeyError) as info:
        registry.get("x")
    assert not str(info.value).startswith(("'", '"'))  # KeyError would quote the message


def test_registries_are_independent() -> None:
    first: Registry[int] = Registry("a")
    second: Registry[int] = Registry("b")
    first.register("x", 1)
    assert "x" not in second
    second.register("x", 2)
    assert (first.get("x"), second.get("x")) == (1, 2)


def test_falsy_objects_register_directly() -> None:
    registry: Registry[int] = Registry("number")
    registry.register("zero", 0)
    assert registry.get("zero") == 0
