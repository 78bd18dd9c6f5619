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


# Seeds seed torch's CPU generator, which takes any 64-bit value; the signed range keeps
# them portable (JSON readers, other languages) and leaves room for seed + k with -n.
MAX_SEED = 2**63 - 1
# |z_mul| and |class_mul| beyond this only saturate or overflow the generator (z_mul 3
# already gives the seed's "wild, abstract" results).
MAX_MULTIPLIER = 1000.0


def check_multiplier(value: Any, label: str) -> float:
    """A noise or class multiplier: |m| <= MAX_MULTIPLIER."""
    return number(value, label, lambda m: abs(m) <= MAX_MULTIPLIER,
                  f"-{MAX_MULTIPLIER:g} to {MAX_MULTIPLIER:g} (1 = unchanged; 3 gives wild results)")  # fmt: skip


def check_truncation(value: Any, label: str = "truncation") -> float:
    """Noise truncation: 0 < t <= 1 (the model's statistics are stored for that range)."""
    return number(value, label, lambda t: 0 < t <= 1, "0 < truncation <= 1")


# Frames per second of any animation we write (turntables, 360 videos).
MAX_FPS = 100.0


def check_fps(value: Any, label: str = "fps") -> float:
    return number(value, label, lambda fps: 0 < fps <= MAX_FPS, f"0 < fps <= {MAX_FPS:g}")


def check_displace(value: Any, label: str = "displace") -> float:
    """Colour-based displacement: |d| < 2, where every radius 1 + d * (lum - 0.5) stays > 0."""
    return number(value, label, lambda d: abs(d) < 2, "-2 < displace < 2 (e.g. 0.1)")


# Our files (sidecars, layouts, job rows, configs) nest a few levels; far deeper is no such
# file, and Python's JSON reader would end in a RecursionError on it.
MAX_JSON_DEPTH = 32


class JSONTooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`: not a file of ours (a ValueError,
    so every reader's "not valid JSON" message names it)."""


def parse_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for files users give: the same values, or :class:`JSONTooDeep`
    (never a RecursionError) for structures nested deeper than ``max_depth``."""
    import json

    too_deep = JSONTooDeep(f"nested deeper than {max_depth} levels")
    try:
        data = json.loads(text)
    except RecursionError:
        raise too_deep from None
    level = [data]
    for _ in range(max_depth):  # breadth first, no recursion: each pass is one container down
        level = [child for value in level if isinstance(value, (dict, list))
                 for child in (value.values() if isinstance(value, dict) else value)]  # fmt: skip
    if any(isinstance(value, (dict, list)) for value in level):
        raise too_deep
    return data
