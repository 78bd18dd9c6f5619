"""One request value for one result: what the CLI's flags, a batch job's row, the web
form and a JSON sidecar all parse into, and what the library validates and runs.

A :class:`Request` is plain data (classes, seed, sampling, canvas, size, chunking,
exports). Its field names are the CLI's option names (``panorama_width``,
``no_share_z``, ``batch_size``...), so a job row or a sidecar reads like a command line.
Every value is checked here, once, with the same one-line messages whichever client
made it; checks that need the model (layer range, overlap against the feature grids,
memory) run in :meth:`Request.check_with_model`, still before anything is generated.
"""
from __future__ import annotations

import difflib
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Iterator, Mapping, Sequence

from ganorama.errors import UsageError

KINDS = ("panorama", "bigimg", "texture")
# Seeds seed torch's CPU generator, which takes any 64-bit value; the signed range keeps
# them portable (JSON readers, other languages) and leaves room for seed + k with -n.
MAX_SEED = 2**63 - 1
# |z_mul| and |class_mul| beyond this only saturate or overflow the generator (z_mul 3
# already gives the seed's "wild, abstract" results).
MAX_MULTIPLIER = 1000.0
FORMATS = ("png", "jpg")
EXPORTS = ("cubemap", "viewer", "turntable", "mesh", "export_point_cloud")
# The named sphere layouts (ganorama.canvas.sphere.LAYOUTS), here so that checking a
# request that names one needs no torch.
LAYOUT_NAMES = ("full", "seed16", "cube")
WRAPS = ("none", "x", "y", "xy")
AUTO = "auto"
# Sidecars are small; a bigger file is not one (and is not read into memory).
MAX_SIDECAR_BYTES = 4 * 2**20

Label = Callable[[str], str]


def plain_label(name: str) -> str:
    return name


def flag_label(name: str) -> str:
    return f"--{name}"


# --- value checks: (label, value) -> normalised value, or a one-line UsageError ------------


def _integer(value: Any, label: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)  # JSON writers may give 3.0 for 3
        else:
            raise UsageError(f"{label} {value!r} is not a whole number{_range_text(low, high)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{label} {value} is out of range;{_range_text(low, high, allowed=True)}")
    return value


def _range_text(low, high, allowed: bool = False) -> str:
    prefix = " allowed:" if allowed else "; allowed:"
    if low is not None and high is not None:
        return f"{prefix} {low} to {high}"
    if low is not None:
        return f"{prefix} >= {low}"
    return ""


def _number(value: Any, label: str, check: Callable[[float], bool], allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{label} {value!r} is not a number; allowed: {allowed}")
    value = float(value)
    if not math.isfinite(value) or not check(value):
        raise UsageError(f"{label} {value!r} is out of range; allowed: {allowed}")
    return value


def _boolean(value: Any, label: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{label} {value!r} is not true or false")
    return value


def _choice(value: Any, label: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise UsageError(f"{label} {value!r} is invalid; allowed: {', '.join(choices)}")
    return value


def _size_or_auto(value: Any, label: str) -> int | str:
    if value == AUTO:
        return AUTO
    return _integer(value, label, 1, None)


# --- text -> value, for the CLI and CSV rows ------------------------------------------------


def parse_text(name: str, text: str) -> Any:
    """A field's value from its text form (a command-line word or a CSV cell); the result
    still goes through the field's check."""
    kind = FIELD_TYPES.get(name, str)
    stripped = text.strip()
    if kind is bool:
        lowered = stripped.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        return text
    if kind in (int, float, "int_or_auto"):
        if kind == "int_or_auto" and stripped == AUTO:
            return AUTO
        try:
            number = int(stripped)
        except ValueError:
            try:
                number = float(stripped)
            except ValueError:
                return text  # the check names it as not a number
        return float(number) if kind is float else number
    if kind == "optional":
        return None if stripped == "" else stripped
    return text


@dataclass(frozen=True)
class Request:
    """Everything that decides one result. Field names are the CLI's option names; the
    defaults are the CLI's (the original ``main.py``/``bigimg.py`` defaults)."""

    kind: str = "panorama"
    # ImageNet class: a name, an id, a mix "0.7*sandbar+0.3*valley" or {name or id: weight};
    # None draws random classes. With ``morph``, two or more specs joined by "|".
    classes: Any = None
    seed: int | None = None  # None: a random seed, drawn and recorded when the request runs
    # sampling (the seed's flags)
    truncation: float = 0.5
    z_mul: float = 1.0
    class_mul: float = 1.0
    no_share_z: bool = False
    share_class: bool = False
    start_layer: int = 2
    end_layer: int = 7
    # panorama
    layout: Any = "full"  # a layout name, a layout JSON file, or a list of views
    panorama_width: Any = 2000  # pixels, or "auto": the views' angular resolution
    panorama_height: Any = 1000
    # big image
    batch_size: int = 6  # tiles across
    rows: int = 1
    overlap: float = 0.5
    wrap: str = "none"
    morph: bool = False
    # texture
    size: int = 512
    # execution: views per chunk (None = auto), or a memory budget in bytes to derive it from
    max_views: int | None = None
    memory_budget: int | None = None
    # output
    format: str = "png"
    quality: int = 95
    save_views: bool = False
    cubemap: bool = False
    viewer: bool = False
    turntable: bool = False
    mesh: bool = False
    export_point_cloud: bool = False
    displace: float = 0.0

    def __post_init__(self):
        for name, value in self.checked_values(plain_label).items():
            object.__setattr__(self, name, value)

    # --- building -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], label: Label = plain_label) -> "Request":
        """A request from a mapping of field names (a job row, a sidecar's ``request``, the
        CLI's options), refusing unknown fields and fields that do not apply to its kind.
        ``label`` spells a field name in messages (``--panorama_width`` for the CLI)."""
        if not isinstance(values, Mapping):
            raise UsageError(f"a request must be an object of fields, not {type(values).__name__}")
        kind = values.get("kind", "panorama")
        _choice(kind, label("kind"), KINDS)
        for name in values:
            if name not in FIELDS:
                close = difflib.get_close_matches(str(name), list(FIELDS), n=1)
                hint = f" (did you mean {label(close[0])}?)" if close else ""
                raise UsageError(f"unknown field {label(str(name))}{hint}; fields for {kind}: "
                                 f"{', '.join(label(n) for n in fields_for(kind))}")
            if name not in fields_for(kind):
                raise UsageError(f"{label(name)} does not apply to {kind}; fields for {kind}: "
                                 f"{', '.join(label(n) for n in fields_for(kind))}")
        request = cls.__new__(cls)
        merged = {f.name: f.default for f in fields(cls)}
        merged.update(values)
        for name, value in cls._check(merged, label).items():
            object.__setattr__(request, name, value)
        return request

    @classmethod
    def from_text(cls, values: Mapping[str, str], label: Label = plain_label) -> "Request":
        """Like :meth:`from_dict`, for values that are all text (a CSV row)."""
        return cls.from_dict({name: parse_text(name, text) for name, text in values.items()}, label)

    @classmethod
    def from_sidecar(cls, sidecar: Mapping[str, Any] | str) -> "Request":
        """The request recorded in a result's JSON sidecar (its ``request`` object): running
        it again gives the same result (same seed, same chunking)."""
        if isinstance(sidecar, str):
            try:
                sidecar = json.loads(sidecar)
            except ValueError as error:
                raise UsageError(f"sidecar is not valid JSON ({error})") from None
        if not isinstance(sidecar, Mapping) or not isinstance(sidecar.get("request"), Mapping):
            raise UsageError("sidecar has no 'request' object; it was not written by this version of ganorama")
        return cls.from_dict(sidecar["request"])

    def to_dict(self) -> dict:
        """The fields that apply to this kind, as JSON-ready values (round-trips through
        :meth:`from_dict`)."""
        values = asdict(self)
        return {name: _jsonable(values[name]) for name in fields_for(self.kind)}

    def replace(self, **changes) -> "Request":
        return replace(self, **changes)

    # --- checking -------------------------------------------------------------------------

    def checked_values(self, label: Label) -> dict:
        return self._check(asdict(self), label)

    @staticmethod
    def _check(values: dict, label: Label) -> dict:
        checked = {name: FIELDS[name](values[name], label(name)) for name in FIELDS}
        _check_together(checked, label)
        return checked

    @property
    def sampling(self):
        from ganorama.pipeline import Sampling

        return Sampling(truncation=self.truncation, z_mul=self.z_mul, class_mul=self.class_mul,
                        share_z=not self.no_share_z, share_class=self.share_class,
                        start_layer=self.start_layer, end_layer=self.end_layer)  # fmt: skip

    @property
    def morph_specs(self) -> list[str] | None:
        return [name.strip() for name in str(self.classes).split("|")] if self.morph else None

    @property
    def exports(self) -> list[str]:
        return [name for name in EXPORTS if getattr(self, name)]


# Each field's default: the CLI's flags and the keyword API use these too.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Request)}


def read_sidecar_json(path, what: str, hint: str = "") -> Any:
    """The JSON in the sidecar file at ``path``, size-capped and read as data only.
    ``what`` names the file in messages ("sidecar 3.json", "the uploaded file"); ``hint``
    ends the message for a file that is not JSON."""
    import os

    if os.path.getsize(path) > MAX_SIDECAR_BYTES:
        raise UsageError(f"{what} is larger than {MAX_SIDECAR_BYTES // 2**20} MiB; it is not a ganorama sidecar")
    with open(path, "rb") as file:
        data = file.read()
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{what} is not valid JSON ({error.__class__.__name__}){hint}") from None


def fields_for(kind: str) -> tuple[str, ...]:
    """The fields a request of ``kind`` takes, in declaration order."""
    return tuple(name for name in FIELDS if kind in FIELD_KINDS.get(name, KINDS))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


# --- per-field checks ---------------------------------------------------------------------


def _check_classes(value: Any, label: str) -> Any:
    from ganorama.models.imagenet import parse_class_mix

    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{label} {value!r} is not a class name, id or mix")
    if isinstance(value, int):
        parse_class_mix(str(value))
        return value
    if isinstance(value, Mapping):
        return _check_mix_mapping(value, label)
    if not isinstance(value, str):
        raise UsageError(f"{label} {value!r} is not a class name, id or mix (e.g. 'sandbar', 977, "
                         f"'0.7*sandbar+0.3*valley')")
    names = [name.strip() for name in value.split("|")]
    if not all(names):
        raise UsageError(f"{label} {value!r} has an empty name; separate names with |")
    for name in names:
        parse_class_mix(name)
    return value


def _check_mix_mapping(value: Mapping, label: str) -> dict:
    from ganorama.models.imagenet import class_mix

    class_mix(value)  # names an unknown class (with suggestions) or a bad weight
    return {(key if isinstance(key, (int, str)) else str(key)): weight for key, weight in value.items()}


def _check_seed(value: Any, label: str) -> int | None:
    return None if value is None else _integer(value, label, 0, MAX_SEED)


def _check_layout(value: Any, label: str) -> Any:
    if isinstance(value, str) and value in LAYOUT_NAMES:
        return value
    from ganorama.canvas.sphere import check_layout_value

    return check_layout_value(value, label)


def _check_memory_budget(value: Any, label: str) -> int | None:
    from ganorama.resources import parse_memory_size

    return None if value is None else parse_memory_size(value, label)


def _check_displace(value: Any, label: str) -> float:
    return _number(value, label, lambda d: abs(d) < 2, "-2 < displace < 2 (e.g. 0.1)")


def _multiplier(value: Any, label: str) -> float:
    return _number(value, label, lambda m: abs(m) <= MAX_MULTIPLIER,
                   f"-{MAX_MULTIPLIER:g} to {MAX_MULTIPLIER:g} (1 = unchanged; 3 gives wild results)")  # fmt: skip


FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "kind": lambda v, label: _choice(v, label, KINDS),
    "classes": _check_classes,
    "seed": _check_seed,
    "truncation": lambda v, label: _number(v, label, lambda t: 0 < t <= 1, "0 < truncation <= 1"),
    "z_mul": _multiplier,
    "class_mul": _multiplier,
    "no_share_z": _boolean,
    "share_class": _boolean,
    "start_layer": lambda v, label: _integer(v, label, 0, None),
    "end_layer": lambda v, label: _integer(v, label, 0, None),
    "layout": _check_layout,
    "panorama_width": _size_or_auto,
    "panorama_height": _size_or_auto,
    "batch_size": lambda v, label: _integer(v, label, 1, None),
    "rows": lambda v, label: _integer(v, label, 1, None),
    "overlap": lambda v, label: _number(v, label, lambda o: 0 <= o < 1, "0 <= overlap < 1 (0.5 = half a tile)"),
    "wrap": lambda v, label: _choice(v, label, WRAPS),
    "morph": _boolean,
    "size": lambda v, label: _integer(v, label, 1, None),
    "max_views": lambda v, label: None if v is None or v == AUTO else _integer(v, label, 1, None),
    "memory_budget": _check_memory_budget,
    "format": lambda v, label: _choice(v, label, FORMATS),
    "quality": lambda v, label: _integer(v, label, 1, 100),
    "save_views": _boolean,
    "cubemap": _boolean,
    "viewer": _boolean,
    "turntable": _boolean,
    "mesh": _boolean,
    "export_point_cloud": _boolean,
    "displace": _check_displace,
}

# Fields that only some kinds take (the rest apply to every kind).
FIELD_KINDS: dict[str, tuple[str, ...]] = {
    "layout": ("panorama",), "panorama_width": ("panorama",), "panorama_height": ("panorama",),
    "batch_size": ("bigimg",), "rows": ("bigimg",), "wrap": ("bigimg",), "morph": ("bigimg",),
    "overlap": ("bigimg", "texture"), "size": ("texture",),
    **{name: ("panorama",) for name in EXPORTS}, "displace": ("panorama",),
}  # fmt: skip

# How a field's text form (CLI word, CSV cell) is read before its check.
FIELD_TYPES: dict[str, Any] = {
    "seed": int, "truncation": float, "z_mul": float, "class_mul": float, "start_layer": int, "end_layer": int,
    "panorama_width": "int_or_auto", "panorama_height": "int_or_auto", "batch_size": int, "rows": int,
    "overlap": float, "size": int, "max_views": "int_or_auto", "memory_budget": "optional", "quality": int,
    "displace": float, "classes": "optional",
    **{name: bool for name in ("no_share_z", "share_class", "morph", "save_views", *EXPORTS)},
}  # fmt: skip


def _check_together(values: dict, label: Label) -> None:
    """Checks that involve more than one field."""
    if values["start_layer"] > values["end_layer"]:
        raise UsageError(f"layer range {label('start_layer')} {values['start_layer']} {label('end_layer')} "
                         f"{values['end_layer']} is invalid; need start_layer <= end_layer (blocks start <= i < end)")
    kind = values["kind"]
    classes = values["classes"]
    if values["morph"]:
        specs = [] if not isinstance(classes, str) else classes.split("|")
        if len(specs) < 2:
            raise UsageError(f"{label('morph')} needs two or more classes joined by |, e.g. \"orange|lemon\"")
    elif isinstance(classes, str) and "|" in classes:
        raise UsageError(f"{label('classes')} {classes!r} names several classes; one result takes one class "
                         f"(or a mix like {'0.5*a+0.5*b'!r}), or several joined by | with morph")
    if kind == "texture" and values["overlap"] == 0:
        raise UsageError(f"a texture needs {label('overlap')} > 0: its tiles must overlap across the wrapped "
                         "edges to join them; allowed: 0 < overlap < 1")
    if kind == "bigimg" and values["wrap"] != "none" and values["overlap"] == 0:
        raise UsageError(f"{label('wrap')} {values['wrap']!r} needs {label('overlap')} > 0 "
                         "(tiles must overlap across the wrapped edge to join it)")
    if kind == "panorama":
        width, height = values["panorama_width"], values["panorama_height"]
        if AUTO not in (width, height) and width != 2 * height:
            raise UsageError(f"panorama size {width}x{height} is not 2:1; an equirectangular panorama is exactly "
                             f"twice as wide as tall, e.g. {label('panorama_width')} {2 * height} "
                             f"{label('panorama_height')} {height} (or auto)")
    if values["max_views"] is not None and values["memory_budget"] is not None:
        raise UsageError(f"give {label('max_views')} or {label('memory_budget')}, not both")


# --- many results from one template --------------------------------------------------------


def numbered_requests(template: Mapping[str, Any], count: int, class_names: str | None = None,
                      base_seed: int | None = None, label: Label = plain_label) -> Iterator[Request]:
    """``count`` requests from one template, the original tool's ``-n`` rule: result k uses
    class name k mod the number of ``class_names`` ("a|b|c"; all of them with morph) and
    seed ``base_seed + k`` (random when ``base_seed`` is None)."""
    count = _integer(count, label("num_generations"), 1, None)
    if base_seed is not None:
        _integer(base_seed, label("seed"), 0, MAX_SEED)
        if base_seed + count - 1 > MAX_SEED:
            raise UsageError(f"{label('seed')} {base_seed} with {count} results runs past the largest seed "
                             f"{MAX_SEED} (result k uses seed + k); allowed: 0 to {MAX_SEED - count + 1}")
    names = None
    if class_names is not None and not template.get("morph"):
        names = [name.strip() for name in str(class_names).split("|")]
    for index in range(count):
        values = dict(template)
        if class_names is not None:
            values["classes"] = class_names if names is None else names[index % len(names)]
        values["seed"] = None if base_seed is None else base_seed + index
        yield Request.from_dict(values, label)
