"""Numbers in reports and tables: one reading of a metric value and one way to print it."""

from __future__ import annotations

import math
from typing import Any

UNDEFINED = "undefined"


def as_number(value: Any, *, finite: bool = True) -> float | None:
    """``value`` as a float, or None for None, NaN, booleans and non-numbers (JSON null included); infinities are
    None too unless ``finite`` is False."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)):
        return None
    return number


def format_number(value: Any, digits: int = 4, missing: str = UNDEFINED) -> str:
    """``value`` with ``digits`` decimals, or ``missing`` when it is undefined (never a 0 in its place)."""
    number = as_number(value, finite=False)
    return missing if number is None else f"{number:.{digits}f}"
