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
# A dense layout: ``dense`` (views as narrow as the target width needs) or ``dense:N`` (N views
# around the equator). Fewer than 8 equator views would need views wider than full's 90 degrees;
# more than 64 makes some 1,300 views (16384 px wide at 512), past what a run can hold.
DENSE = "dense"
MIN_DENSE_VIEWS, MAX_DENSE_VIEWS = 8, 64
# With no width asked for, ``dense`` has 32 views around the equator: 22.5-degree views, 2048 px
# wide natively at 128, 4096 at 256, 8192 at 512.
DEFAULT_DENSE_VIEWS = 32


def dense_layout(equator_views: int) -> list[View]:
    """A full-sphere layout of narrow views with full's overlap: ``equator_views`` views
    around the equator, each twice as wide as their spacing (full: 8 views of 90 degrees,
    45 apart), rings of views at the same spacing in elevation toward the poles (fewer views
    per ring as the ring shrinks, never spaced wider than on the equator) and one view at
    each pole."""
    spacing = 360.0 / equator_views
    fov = 2 * spacing
    views = []
    rings = math.ceil(90.0 / spacing) - 1
    for ring in range(-rings, rings + 1):
        elevation = ring * spacing
        count = math.ceil(equator_views * math.cos(math.radians(elevation)) - 1e-9)
        views += [View(index * 360.0 / count, elevation, fov=fov) for index in range(count)]
    return views + [View(0.0, 90.0, fov=fov), View(0.0, -90.0, fov=fov)]


def dense_equator_views(layout: str) -> int | None:
    """N of a checked ``dense:N``; None for plain ``dense`` (N then follows the width)."""
    return int(layout.split(":", 1)[1]) if ":" in layout else None


def is_dense(layout) -> bool:
    """Whether a checked layout value is ``dense`` or ``dense:N``."""
    return isinstance(layout, str) and (layout == DENSE or layout.startswith(DENSE + ":"))


def dense_native_width(image_size: int, equator_views: int) -> int:
    """The equirect width whose angular resolution matches ``dense:N``'s views of
    ``image_size`` pixels (``image_size * 360 / fov`` with fov = 720 / N)."""
    return image_size * equator_views // 2


def dense_views_for(layout: str, image_size: int, width, label: str = "layout") -> int:
    """How many equator views a checked dense layout has for this model size and target
    width (an int, or ``"auto"``): N of ``dense:N``; for ``dense`` the fewest whose views
    resolve ``width`` natively. UsageError (one line) for a width the layout cannot reach."""
    asked = dense_equator_views(layout)
    if asked is None:
        if not isinstance(width, int):
            return DEFAULT_DENSE_VIEWS
        needed = max(MIN_DENSE_VIEWS, math.ceil(2 * width / image_size))
        if needed > MAX_DENSE_VIEWS:
            raise UsageError(f"{label} {layout} cannot reach width {width} at {image_size} px views natively; "
                             f"at most {dense_native_width(image_size, MAX_DENSE_VIEWS)} "
                             f"({DENSE}:{MAX_DENSE_VIEWS})")
        return needed
    native = dense_native_width(image_size, asked)
    if isinstance(width, int) and width > native:
        needed = math.ceil(2 * width / image_size)
        more = f", or {DENSE}:{needed}" if needed <= MAX_DENSE_VIEWS else ""
        raise UsageError(f"{label} {layout} reaches width {native} natively at {image_size} px views, not {width}; "
                         f"ask for at most {native}{more}")
    return asked


def _check_dense(value: str, label: str) -> str:
    if value == DENSE:
        return value
    text = value.split(":", 1)[1]
    allowed = f"allowed: {DENSE} or {DENSE}:N with N views around the equator, {MIN_DENSE_VIEWS} to {MAX_DENSE_VIEWS}"
    if not text.isdigit() or not MIN_DENSE_VIEWS <= int(text) <= MAX_DENSE_VIEWS:
        raise UsageError(f"{label} {value!r} is invalid; {allowed}")
    return f"{DENSE}:{int(text)}"
_VIEW_FIELDS = ("azimuth", "elevation", "roll", "fov")
# A layout file is a list of views of some 60 bytes each; a larger file is not one (and is not read).
MAX_LAYOUT_BYTES = 4 * 2**20
# Every view is a forward of the model and a share of the sync: beyond this a layout is a
# mistake (or an attack), and even the checks of it would cost minutes and gigabytes.
MAX_LAYOUT_VIEWS = 4096
# A pinhole view cannot see 180 degrees; beyond ~170 its border pixels stretch without bound.
MAX_FOV = 170.0


def layout_views(layout) -> list[View]:
    """A layout name, a JSON file of views, or a sequence of views (View or dicts with
    azimuth, elevation and optional roll, fov in degrees) -> the views, checked."""
    return views_of(check_layout_value(layout, "layout"))


def views_of(layout) -> list[View]:
    """The views of a layout already checked by :func:`check_layout_value` (a request's):
    a known name's views, or the views themselves. A dense layout's views depend on the
    model size and width (:func:`dense_views_for`); here, those for the native width."""
    if is_dense(layout):
        return dense_layout(dense_equator_views(layout) or DEFAULT_DENSE_VIEWS)
    return LAYOUTS[layout]() if isinstance(layout, str) else list(layout)


def check_layout_value(value, label: str = "layout"):
    """A layout as a request holds it: a known name (kept as the name) or views (from a
    JSON file or given inline) as a tuple of View, each checked. Whether they cover the
    sphere is the sphere canvas's check, made when the request is planned."""
    if isinstance(value, str):
        if value in LAYOUTS:
            return value
        if is_dense(value):
            return _check_dense(value, label)
        if not value.lower().endswith(".json"):
            raise UsageError(f"{label} {value!r} is unknown; allowed: {', '.join(LAYOUTS)}, {DENSE}[:N] "
                             "or a .json file of views")
        path, value = value, _read_layout_file(value, label)
        label = f"{label} file {path}"
    if isinstance(value, dict) and "views" in value:
        value = value["views"]
    if not isinstance(value, (list, tuple)):
        raise UsageError(f"{label} must be a list of views (objects with azimuth, elevation[, roll, fov] in degrees)")
    if not value:
        raise UsageError(f"{label} has no views; give at least one (objects with azimuth, elevation[, roll, fov])")
    if len(value) > MAX_LAYOUT_VIEWS:
        raise UsageError(f"{label} has {len(value):,} views; at most {MAX_LAYOUT_VIEWS:,} are allowed (the densest "
                         f"built-in layout, {DENSE}:{MAX_DENSE_VIEWS}, has {len(dense_layout(MAX_DENSE_VIEWS)):,})")
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
