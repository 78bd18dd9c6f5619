"""The web form as plain data: widget values -> :class:`Request` and back, class choices
and search, the mix editor, and sidecar uploads. No gradio here, so all of it is
testable without a browser.

Every value still goes through :meth:`Request.from_dict` with the CLI's labels
(``--truncation``), so a bad value gives the page the same one line the CLI prints.
The form only turns widget types into field values (a seed typed as text, a checkbox
"share_z" for the field ``no_share_z``) and refuses what a web page must not ask of
the server: a layout naming a file on the server's disk. Several results (``count``,
the CLI's ``-n``) and the Animate tab's walk follow the CLI's rules
(:func:`~ganorama.request.numbered_requests`, :mod:`ganorama.walks`).
"""
from __future__ import annotations

import functools
import json
import math
import secrets
from pathlib import Path
from typing import Any, Mapping

from ganorama.canvas.layouts import is_dense
from ganorama.checks import parse_json
from ganorama.errors import UsageError
from ganorama.request import (FIELD_KINDS, FIELD_TYPES, FIELDS, KINDS, LAYOUT_NAMES, MAX_SIDECAR_BYTES, Request,
                              fields_for, flag_label, numbered_requests, parse_sidecar_json, parse_text)
from ganorama.walks import FRAME_FIELDS, Walk, frame_count, keyframes_from

# The panorama's extra files, as (label, field) choices of one "exports" widget.
PANORAMA_EXPORTS = (("views contact sheet", "save_views"), ("viewer page (.html)", "viewer"),
                    ("cubemap (.zip)", "cubemap"), ("sphere (.glb)", "mesh"), ("turntable (.gif)", "turntable"),
                    ("point cloud (.ply)", "export_point_cloud"))  # fmt: skip
# Widgets named otherwise than their field: the page asks the positive question (checked
# = one noise vector for all views).
PAGE_NAMES = {"no_share_z": "share_z"}
# Text widgets whose text is read as the CLI reads the flag (a number, "auto", empty): a
# seed up to 2**63 - 1 does not fit a browser's number box.
TEXT_WIDGETS = ("seed", "panorama_width", "panorama_height", "max_views", "memory_budget")


def _kind_widgets(kind: str) -> tuple[str, ...]:
    """A kind's own widgets, from the fields only that kind (or few) takes; a panorama's
    exports (and its views sheet) are one widget, the other kinds show the views sheet alone."""
    own = [name for name in fields_for(kind) if FIELD_KINDS[name] != KINDS]
    exported = {name for _, name in PANORAMA_EXPORTS}
    if kind == "panorama":
        first_export = min(own.index(name) for name in own if name in exported)
        own = [name for name in own if name not in exported]
        own.insert(first_export, "exports")
        return tuple(own)
    return (*own, "save_views")


# Widgets shown whatever the kind (the fields every kind takes), then each kind's own:
# all derived from the request's field descriptions.
SHARED_WIDGETS = tuple(PAGE_NAMES.get(name, name) for name in FIELDS
                       if FIELD_KINDS[name] == KINDS and name not in ("kind", "save_views"))  # fmt: skip
KIND_WIDGETS = {kind: _kind_widgets(kind) for kind in KINDS}
# Number widgets: the page sends a float (or None when emptied); the request's own check
# takes 3.0 for a whole number and refuses 2.5.
NUMBER_WIDGETS = tuple(name for name in FIELDS if FIELD_TYPES[name] in (int, float) and name not in TEXT_WIDGETS)

# The largest seed the dice draws: any seed up to MAX_SEED works, short ones are easier to note.
DICE_SEEDS = 2**31
# Results one click makes at most: the server's history keeps 24, and all of them stay there.
MAX_COUNT = 24

# The Animate tab: every frame is a panorama (the shared widgets but the image format,
# the panorama's canvas widgets), and the walk's own.
WALK_WIDGETS = ("keyframes", "frames", "fps", "loop", "easing")
ANIMATE_WIDGETS = (tuple(name for name in SHARED_WIDGETS if name not in ("format", "quality"))
                   + ("layout", "panorama_width", "panorama_height") + WALK_WIDGETS)  # fmt: skip
ANIMATE_DEFAULTS = {"keyframes": "", "frames": 24, "fps": 12, "loop": True, "easing": "smooth",
                    "panorama_width": "512", "panorama_height": "256"}  # fmt: skip


def widgets_for(kind: str) -> tuple[str, ...]:
    return SHARED_WIDGETS + KIND_WIDGETS[kind]


def default_values(kind: str) -> dict[str, Any]:
    """The widgets' starting values: the CLI's defaults (a request with nothing set)."""
    return widget_values(Request(kind=kind))


# --- page -> request -----------------------------------------------------------------------


def request_from_form(kind: str, values: Mapping[str, Any]) -> Request:
    """The request the form describes for ``kind`` (``values``: widget name -> value, the
    widgets of :func:`widgets_for`). Raises UsageError with the CLI's one-line message."""
    return Request.from_dict(_form_fields(kind, values), label=flag_label)


def requests_from_form(kind: str, values: Mapping[str, Any], count: Any = 1) -> list[Request]:
    """The ``count`` requests one click makes, by the CLI's ``-n`` rule: result k has seed
    + k (random seeds when the seed is empty) and class name k of "a|b|c" (all of them
    with morph)."""
    count = _count(count)
    fields = _form_fields(kind, values)
    classes, seed = fields.pop("classes"), fields.pop("seed")
    names = None if classes is None else str(classes)
    return list(numbered_requests(fields, count, names, seed, label=flag_label))


def _count(value: Any) -> int:
    from ganorama import checks

    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    return checks.integer(value, "count (-n)", 1, MAX_COUNT)


def _optional_whole(value: Any, label: str) -> int | None:
    """A whole number typed as text, or None when empty."""
    from ganorama import checks

    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        raise UsageError(f"{label} {text!r} is not a whole number; leave it empty for the default") from None
    return checks.integer(number, label, 1, None)


def _form_fields(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        raise UsageError(f"kind {kind!r} is invalid; allowed: {', '.join(KINDS)}")
    fields: dict[str, Any] = {"kind": kind}
    for name in widgets_for(kind):
        fields.update(_field_values(name, values.get(name)))
    return fields


def animation_from_form(values: Mapping[str, Any]) -> tuple[Request, Walk]:
    """The Animate tab as (the panorama request every frame shares, the walk), checked as
    ``ganorama animate`` checks its flags: keyframes from the classes ("a|b|c", one per
    name, seeds seed, seed + 1, ...), every keyframe's class and seed, frames and fps."""
    fields: dict[str, Any] = {}
    for name in ANIMATE_WIDGETS:
        fields.update(_field_values(name, values.get(name)))
    seed = fields["seed"] if fields["seed"] is not None else secrets.randbelow(DICE_SEEDS)
    classes = None if fields["classes"] is None else str(fields["classes"])
    keyframes = _optional_whole(fields["keyframes"], flag_label("keyframes"))
    frames = frame_count(fields["frames"], None, fields["fps"], flag_label)
    walk = Walk(keyframes_from(classes, seed, keyframes), frames, fields["fps"], fields["loop"], fields["easing"])
    first = walk.keyframes[0]
    request = Request.from_dict({"kind": "panorama", "classes": first.classes, "seed": first.seed,
                                 **{name: fields[name] for name in FRAME_FIELDS}}, label=flag_label)  # fmt: skip
    for keyframe in walk.keyframes[1:]:  # every keyframe's class and seed, before the run
        request.replace(classes=keyframe.classes, seed=keyframe.seed)
    return request, walk


def _field_values(name: str, value: Any) -> dict[str, Any]:
    if name == "share_z":
        return {"no_share_z": not value} if isinstance(value, bool) else {"no_share_z": value}
    if name == "classes":
        return {"classes": _classes_value(value)}
    if name == "exports":
        chosen = set(value or ())
        unknown = chosen - {field for _, field in PANORAMA_EXPORTS}
        if unknown:
            raise UsageError(f"exports {sorted(unknown)!r} are unknown; allowed: "
                             f"{', '.join(field for _, field in PANORAMA_EXPORTS)}")
        return {field: field in chosen for _, field in PANORAMA_EXPORTS}
    if name == "layout":
        return {"layout": layout_value(value)}
    if name in TEXT_WIDGETS:
        text = "" if value is None else str(value)
        if name == "seed" and not text.strip():
            return {"seed": None}  # drawn when the request runs, and recorded
        if name == "max_views" and not text.strip():
            return {"max_views": None}
        return {name: parse_text(name, text)}
    if name in NUMBER_WIDGETS:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise UsageError(f"{flag_label(name)} is empty; give a number")
    return {name: value}


def _classes_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    return text or None  # empty: random classes, as without --class_names


def layout_value(value: Any) -> Any:
    """A layout from the page: a layout name, or a JSON list of views pasted as text. A
    name of a file is refused: the page must not make the server read its own files."""
    if isinstance(value, (list, tuple)):
        return value
    text = "" if value is None else str(value).strip()
    if text in LAYOUT_NAMES or is_dense(text):
        return text  # a dense value is checked with the rest of the request
    if text.startswith(("[", "{")):
        try:
            return parse_json(text)
        except ValueError as error:
            raise UsageError(f"{flag_label('layout')} is not valid JSON ({error}); give a layout name or a "
                             'JSON list of views [{"azimuth": 0, "elevation": 0, "roll": 0, "fov": 90}, ...]') from None
    raise UsageError(f"{flag_label('layout')} {text!r} is invalid here; allowed: {', '.join(LAYOUT_NAMES)}, dense[:N] or "
                     "a JSON list of views (the web app reads no files on the server)")  # fmt: skip


# --- request -> page -----------------------------------------------------------------------


def widget_values(request: Request) -> dict[str, Any]:
    """The widget values that describe ``request`` (the inverse of :func:`request_from_form`,
    for "Reproduce"): only the widgets of the request's kind."""
    values = request.to_dict()
    widgets: dict[str, Any] = {}
    for name in widgets_for(request.kind):
        if name == "share_z":
            widgets[name] = not values["no_share_z"]
        elif name == "classes":
            widgets[name] = classes_text(values["classes"])
        elif name == "exports":
            widgets[name] = [field for _, field in PANORAMA_EXPORTS if values[field]]
        elif name == "layout":
            layout = values["layout"]
            widgets[name] = layout if isinstance(layout, str) else json.dumps(layout)
        elif name in TEXT_WIDGETS:
            widgets[name] = "" if values[name] is None else str(values[name])
        else:
            widgets[name] = values[name]
    return widgets


def classes_text(classes: Any) -> str:
    """A request's classes as the text the Classes box takes: "" for random, a name or id,
    or a mapping {class: weight} as a mix "0.7*sandbar+0.3*valley" (weights written so
    that they read back exactly)."""
    if classes is None:
        return ""
    if isinstance(classes, Mapping):
        return "+".join(f"{float(weight)!r}*{key}" for key, weight in classes.items())
    return str(classes)


# --- classes: choices, search, mixes -------------------------------------------------------


@functools.lru_cache(maxsize=None)
def class_choices() -> tuple[tuple[str, str], ...]:
    """(label, value) for each of the 1000 classes, for a type-ahead list: the label holds
    every synonym and the id, so typing any of them finds the class; the value is the
    first name when it names only this class, else the id."""
    from ganorama.models import imagenet

    return tuple((class_label(class_id), class_value(class_id)) for class_id in range(imagenet.NUM_CLASSES))


def class_label(class_id: int) -> str:
    from ganorama.models import imagenet

    return f"{', '.join(imagenet.class_names(class_id))} ({class_id})"


def class_value(class_id: int) -> str:
    from ganorama.models import imagenet

    name = imagenet.display_name(class_id)
    try:
        unambiguous = imagenet.lookup(name) == class_id
    except UsageError:
        unambiguous = False
    return name if unambiguous else str(class_id)


def search_classes(query: str, limit: int = 12) -> list[tuple[str, str]]:
    """(label with the definition, value) of the classes :func:`imagenet.search` finds for
    ``query`` (names, synonyms, scene words like "beach", definitions), best first."""
    from ganorama.models import imagenet

    if not query or not query.strip():
        return []
    return [(f"{class_label(class_id)}: {_short(imagenet.definition(class_id))}", class_value(class_id))
            for class_id in imagenet.search(query, limit=limit)]  # fmt: skip


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def compose_mix(parts: list[tuple[Any, Any]]) -> str:
    """The mix text for (class, weight) rows of the mix editor, e.g. "0.7*sandbar+0.3*valley";
    rows without a class are skipped. Checked with the library's mix parser."""
    from ganorama.models.imagenet import parse_class_mix

    terms = []
    for row, (name, weight) in enumerate(parts, start=1):
        name = "" if name is None else str(name).strip()
        if not name:
            continue
        if weight is None or isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise UsageError(f"mix row {row} ({name}) has no weight; give a positive number")
        if not math.isfinite(weight) or weight <= 0:
            raise UsageError(f"mix row {row} ({name}) has weight {weight:g}; allowed: a positive number")
        terms.append(f"{weight:g}*{name}")
    if not terms:
        raise UsageError("the mix editor is empty; pick a class in at least one row")
    mix = "+".join(terms)
    parse_class_mix(mix)
    return mix


# --- sidecar uploads -------------------------------------------------------------------------


def request_from_sidecar_file(path: str | Path) -> Request:
    """The request in an uploaded sidecar file (``N.json`` written beside a result)."""
    with open(path, "rb") as file:
        return request_from_sidecar_text(file.read(MAX_SIDECAR_BYTES + 1))


def request_from_sidecar_text(text: Any) -> Request:
    """The request in a sidecar's text as the page sends it (the browser reads the file),
    read as data only: size-capped, JSON, and a layout that names no file on the server."""
    if not isinstance(text, (str, bytes)):
        raise UsageError(f"the upload is {type(text).__name__}, not the text of a file; upload the N.json written "
                         "beside a result")  # fmt: skip
    data = text.encode("utf-8", errors="replace") if isinstance(text, str) else text
    sidecar = parse_sidecar_json(data, "the uploaded file", hint="; upload the N.json written beside a result")
    if isinstance(sidecar, dict) and isinstance(sidecar.get("request"), dict) and "layout" in sidecar["request"]:
        sidecar["request"]["layout"] = layout_value(sidecar["request"]["layout"])
    return Request.from_sidecar(sidecar)


def sidecar_summary(request: Request) -> str:
    seed = "random seed" if request.seed is None else f"seed {request.seed}"
    classes = classes_text(request.classes) or "random classes"
    return f"Filled the {request.kind} form from the sidecar: {classes}, {seed}."

