"""Checks of single values, each with one one-line message, and the rules that several
modules apply to the same value (the request, the renderer, the model): a rule lives here,
in the lowest module all of them import, so it is written and worded once. Torch-free."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ganorama.errors import UsageError

def integer(value: Any, label: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)  # JSON writers may give 3.0 for 3
        else:
            raise UsageError(f"{label} {value!r} is not a whole number{range_text(low, high)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{label} {value} is out of range;{range_text(low, high, allowed=True)}")
    return value


def range_text(low, high, allowed: bool = False) -> str:
    prefix = " allowed:" if allowed else "; allowed:"
    if low is not None and high is not None:
        return f"{prefix} {low} to {high}"
    if low is not None:
        return f"{prefix} >= {low}"
    return ""


def number(value: Any, label: str, check: Callable[[float], bool], allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{label} {value!r} is not a number; allowed: {allowed}")
    value = float(value)
    if not math.isfinite(value) or not check(value):
        raise UsageError(f"{label} {value!r} is out of range; allowed: {allowed}")
    return value


def boolean(value: Any, label: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{label} {value!r} is not true or false")
    return value


def choice(value: Any, label: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise UsageError(f"{label} {value!r} is invalid; allowed: {', '.join(choices)}")
    return value


def check_truncation(value: Any, label: str = "truncation") -> float:
    """Noise truncation: 0 < t <= 1 (the model's statistics are stored for that range)."""
    return number(value, label, lambda t: 0 < t <= 1, "0 < truncation <= 1")


def check_displace(value: Any, label: str = "displace") -> float:
    """Colour-based displacement: |d| < 2, where every radius 1 + d * (lum - 0.5) stays > 0."""
    return number(value, label, lambda d: abs(d) < 2, "-2 < displace < 2 (e.g. 0.1)")
