"""Shared helper for the evaluation CLI tests: a copy of the trained run that a test may change."""

from __future__ import annotations

import shutil
from pathlib import Path


def model_copy(setup: dict[str, Path], name: str) -> Path:
    copy = setup["root"] / name
    shutil.copytree(setup["run"], copy, ignore=shutil.ignore_patterns("*.ckpt"), dirs_exist_ok=True)
    return copy
