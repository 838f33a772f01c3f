"""Shared helpers for the manifest and list-file tests: tiny distinct PNGs and the one-line error check."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from PIL import Image

_COLOURS = itertools.count(1)


def _image(path: Path) -> Path:
    """Write a tiny PNG whose bytes differ from every other image these tests write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    index = next(_COLOURS)
    Image.new("RGB", (8, 8), (index % 256, index // 256 % 256, 33)).save(path, format="PNG")
    return path


def _images(folder: Path, names: list[str]) -> list[Path]:
    return [_image(folder / name) for name in names]


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message
