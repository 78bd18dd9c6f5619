"""Sphere layouts as values: views, the named layouts and the checks of a layout a user
gives (a name, a JSON file or a list of views). Torch-free, so a request that names a
layout is checked without torch; whether the views cover the whole sphere needs the
geometry and is checked by the sphere canvas (:func:`ganorama.canvas.sphere.check_covers_sphere`)
when a request is planned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ganorama.checks import parse_json
from ganorama.errors import UsageError


@dataclass(frozen=True)
class View:
    """One camera on the sphere, angles in degrees (conventions in :mod:`ganorama.geometry`)."""

    azimuth: float
    elevation: float
    roll: float = 0.0
    fov: float = 90.0


def seed16_layout() -> list[View]:
    """The seed's 16 views, in its order: 4 at +45, 4 at -45, 8 on the horizon (fov 90).

    The poles lie on the border of the +-45 views, where the blend weight is zero."""
    upper = [View(azimuth, 45.0) for azimuth in (0, 90, 180, 270)]
    lower = [View(azimuth, -45.0) for azimuth in (0, 90, 180, 270)]
    horizon = [View(float(azimuth), 0.0) for azimuth in range(0, 360, 45)]
    return upper + lower + horizon


def full_sphere_layout() -> list[View]:
    """seed16 plus a zenith and a nadir view, so every direction lies inside some view."""
    return seed16_layout() + [View(0.0, 90.0), View(0.0, -90.0)]


def cube_layout() -> list[View]:
    """Six views looking along +-x, +-y, +-z, slightly wider than 90 degrees so they overlap."""
    fov = 100.0
    return [View(0, 0, fov=fov), View(90, 0, fov=fov), View(180, 0, fov=fov), View(270, 0, fov=fov),
            View(0, 90, fov=fov), View(0, -90, fov=fov)]  # fmt: skip


LAYOUTS = {"full": full_sphere_layout, "seed16": seed16_layout, "cube": cube_layout}
DEFAULT_LAYOUT = "full"
LAYOUT_NAMES = tuple(LAYOUTS)
_VIEW_FIELDS = ("azimuth", "elevation", "roll", "fov")
# A layout file is a list of views of some 60 bytes each; a larger file is not one (and is not read).
MAX_LAYOUT_BYTES = 4 * 2**20
# A pinhole view cannot see 180 degrees; beyond ~170 its border pixels stretch without bound.
MAX_FOV = 170.0


def layout_views(layout) -> list[View]:
    """A layout name, a JSON file of views, or a sequence of views (View or dicts with
    azimuth, elevation and optional roll, fov in degrees) -> the views, checked."""
    return views_of(check_layout_value(layout, "layout"))


def views_of(layout) -> list[View]:
    """The views of a layout already checked by :func:`check_layout_value` (a request's):
    a known name's views, or the views themselves."""
    return LAYOUTS[layout]() if isinstance(layout, str) else list(layout)


def check_layout_value(value, label: str = "layout"):
    """A layout as a request holds it: a known name (kept as the name) or views (from a
    JSON file or given inline) as a tuple of View, each checked. Whether they cover the
    sphere is the sphere canvas's check, made when the request is planned."""
    if isinstance(value, str):
        if value in LAYOUTS:
            return value
        if not value.lower().endswith(".json"):
            raise UsageError(f"{label} {value!r} is unknown; allowed: {', '.join(LAYOUTS)} or a .json file of views")
        path, value = value, _read_layout_file(value, label)
        label = f"{label} file {path}"
    if isinstance(value, dict) and "views" in value:
        value = value["views"]
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"{label} must be a list of views (objects with azimuth, elevation[, roll, fov] in degrees)")
    if not value:
        raise UsageError(f"{label} has no views; give at least one (objects with azimuth, elevation[, roll, fov])")
    return tuple(_check_view(item, f"{label} view {index}") for index, item in enumerate(value))


def _read_layout_file(path: str, label: str):
    from pathlib import Path

    try:
        file = Path(path).expanduser()
        if file.is_file() and file.stat().st_size > MAX_LAYOUT_BYTES:
            raise UsageError(f"{label} file {path} is larger than {MAX_LAYOUT_BYTES // 2**20} MiB; a layout is a list "
                             "of views, a few bytes each")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{label} file {path} does not exist; allowed: {', '.join(LAYOUTS)} or a .json file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{label} file {path} cannot be read ({error.__class__.__name__})") from None
    try:
        return parse_json(text)
    except ValueError as error:
        raise UsageError(f"{label} file {path} is not valid JSON ({error})") from None


def _check_view(item, label: str) -> View:
    if isinstance(item, View):
        item = vars(item)
    if not isinstance(item, dict):
        raise UsageError(f"{label} must be an object with azimuth, elevation[, roll, fov], got {item!r}")
    unknown = sorted(set(item) - set(_VIEW_FIELDS))
    if unknown:
        raise UsageError(f"{label} has unknown field {unknown[0]!r}; allowed: {', '.join(_VIEW_FIELDS)}")
    missing = [name for name in ("azimuth", "elevation") if name not in item]
    if missing:
        raise UsageError(f"{label} needs {missing[0]!r} (degrees)")
    values = {}
    for name in _VIEW_FIELDS:
        value = item.get(name, {"roll": 0.0, "fov": 90.0}.get(name))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(f"{label} {name} {value!r} is not a finite number of degrees")
        values[name] = float(value)
    if not -90 <= values["elevation"] <= 90:
        raise UsageError(f"{label} elevation {values['elevation']:g} is out of range; allowed: -90 to 90")
    if not 0 < values["fov"] <= MAX_FOV:
        raise UsageError(f"{label} fov {values['fov']:g} is out of range; allowed: 0 < fov <= {MAX_FOV:g}")
    return View(**values)
