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
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ganorama import checks
from ganorama.canvas.layouts import LAYOUT_NAMES, check_layout_value
from ganorama.canvas.tiling import WRAPS, check_overlap_range, check_wrap, check_wrap_choice
from ganorama.checks import MAX_SEED, check_displace, check_multiplier, check_truncation
from ganorama.errors import UsageError
from ganorama.formats import FLOAT_FORMATS, FORMATS

KINDS = ("panorama", "bigimg", "texture")
EXPORTS = ("cubemap", "viewer", "turntable", "mesh", "export_point_cloud")
AUTO = "auto"
__all__ = ["AUTO", "DEFAULTS", "EXPORTS", "FIELDS", "FORMATS", "KINDS", "LAYOUT_NAMES", "MAX_SEED", "Request",
           "Sampling", "WRAPS", "fields_for", "flag_label", "numbered_requests", "parse_text", "plain_label",
           "read_sidecar_json"]
# Sidecars are small; a bigger file is not one (and is not read into memory).
MAX_SIDECAR_BYTES = 4 * 2**20

Label = Callable[[str], str]


def plain_label(name: str) -> str:
    return name


def flag_label(name: str) -> str:
    return f"--{name}"


def _size_or_auto(value: Any, label: str) -> int | str:
    if value == AUTO:
        return AUTO
    return checks.integer(value, label, 1, None)


# --- text -> value, for the CLI and CSV rows ------------------------------------------------


def parse_switch(text: str) -> Any:
    """A true/false value from its text form (1/true/yes/on, 0/false/no/off or empty), or
    the text itself, which the field's check then names."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    return text


def parse_text(name: str, text: str) -> Any:
    """A field's value from its text form (a command-line word or a CSV cell); the result
    still goes through the field's check."""
    kind = FIELD_TYPES.get(name, str)
    stripped = text.strip()
    if kind is bool:
        return parse_switch(text)
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
    return None if value is None else checks.integer(value, label, 0, MAX_SEED)


def _check_memory_budget(value: Any, label: str) -> int | None:
    from ganorama.resources import parse_memory_size

    return None if value is None else parse_memory_size(value, label)


def _multiplier(value: Any, label: str) -> float:
    return check_multiplier(value, label)


def _whole(low: int | None = None, high: int | None = None) -> Callable[[Any, str], int]:
    return lambda value, label: checks.integer(value, label, low, high)


def _one_of(choices: Sequence[str]) -> Callable[[Any, str], str]:
    return lambda value, label: checks.choice(value, label, choices)


def _check_max_views(value: Any, label: str) -> int | None:
    return None if value is None or value == AUTO else checks.integer(value, label, 1, None)


# --- each field described once ------------------------------------------------------------


def described(default: Any, check: Callable[[Any, str], Any], help: str, kinds: tuple[str, ...] = KINDS,
              text: Any = str) -> Any:  # fmt: skip
    """A request field with everything said about it in one place: its ``check``
    (``(value, label) -> normalised value`` or a one-line UsageError), the ``kinds`` that
    take it, how its ``text`` form (a CLI word, a CSV cell) is read, and its ``help``.
    The CLI's flags, batch's flags, the web form and the tables below are derived from it."""
    return field(default=default, metadata={"check": check, "kinds": kinds, "text": text, "help": help})


_EXPORT_HELP = {
    "cubemap": "also write a skybox: N_cubemap/{px,nx,py,ny,pz,nz,cross}",
    "viewer": "also write N.html, an offline 360 viewer",
    "turntable": "also write N_turntable.gif, a spinning globe",
    "mesh": "also write N.glb, a textured sphere (glTF)",
    "export_point_cloud": "also write the views' 3-D points with their colours as N.ply",
}


@dataclass(frozen=True)
class Request:
    """Everything that decides one result. Field names are the CLI's option names; the
    defaults are the CLI's (the original ``main.py``/``bigimg.py`` defaults)."""

    kind: str = described("panorama", _one_of(KINDS), "what to make: " + ", ".join(KINDS))
    # ImageNet class: a name, an id, a mix "0.7*sandbar+0.3*valley" or {name or id: weight};
    # None draws random classes. With ``morph``, two or more specs joined by "|".
    classes: Any = described(None, _check_classes, "ImageNet class: a name, an id or a mix like "
                             "0.7*sandbar+0.3*valley; random classes when omitted", text="optional")  # fmt: skip
    # None: a random seed, drawn and recorded when the request runs
    seed: int | None = described(None, _check_seed, f"seed, 0 to {MAX_SEED}; random and recorded in the JSON "
                                 "sidecar when omitted",
                                 text=int)  # fmt: skip
    # sampling (the seed's flags)
    truncation: float = described(0.5, check_truncation, "noise truncation, 0 < t <= 1", text=float)
    z_mul: float = described(1.0, _multiplier, "multiply the noise vector (3 gives wild, abstract results); "
                             "-1000 to 1000", text=float)  # fmt: skip
    class_mul: float = described(1.0, _multiplier, "multiply the class vector; -1000 to 1000", text=float)
    no_share_z: bool = described(False, checks.boolean, "draw a separate noise vector per view instead of one shared "
                                 "by all views", text=bool)  # fmt: skip
    share_class: bool = described(False, checks.boolean, "without --class_names: one random class for all views "
                                  "instead of one per view", text=bool)  # fmt: skip
    start_layer: int = described(2, _whole(0), "first generator block whose output is synced (blocks count "
                                 "GenBlocks and the attention block)", text=int)  # fmt: skip
    end_layer: int = described(7, _whole(0), "sync blocks start_layer <= i < end_layer (a Python slice)", text=int)
    # panorama
    layout: Any = described("full", check_layout_value, "camera layout: full = the original 16 views + zenith + "
                            "nadir (covers the poles); seed16 = the original 16 views; cube = 6 wide views; dense = "
                            "narrow views in rings whose resolution matches the width (dense:N = N views around "
                            "the equator, 8 to 64); or a "
                            'JSON list of views [{"azimuth": 0, "elevation": 0, "roll": 0, "fov": 90}, ...] that '
                            "must cover the sphere", kinds=("panorama",))  # fmt: skip
    panorama_width: Any = described(2000, _size_or_auto, "equirect width in pixels (twice the height; given alone "
                                    "it sets the height); auto = the views' own angular resolution (about 4x the "
                                    "model's size); powers of two (1024, 2048, 4096, 8192) suit GPU textures and glTF",
                                    kinds=("panorama",), text="int_or_auto")  # fmt: skip
    panorama_height: Any = described(1000, _size_or_auto, "equirect height in pixels (half the width)",
                                     kinds=("panorama",), text="int_or_auto")  # fmt: skip
    # big image
    batch_size: int = described(6, _whole(1), "tiles across; with --overlap 0.5 the image is (S/2)*(COLS+1) wide",
                                kinds=("bigimg",), text=int)  # fmt: skip
    rows: int = described(1, _whole(1), "tiles down", kinds=("bigimg",), text=int)
    overlap: float = described(0.5, check_overlap_range, "fraction of a tile shared with its neighbour, "
                               "0 <= F < 1; the step between tiles must land on the synced feature grids (for the "
                               "default blocks: multiples of 1/8)", kinds=("bigimg", "texture"), text=float)  # fmt: skip
    wrap: str = described("none", check_wrap_choice, "join opposite edges so the image tiles: x = left/right, "
                          "y = top/bottom, xy = both", kinds=("bigimg",))  # fmt: skip
    morph: bool = described(False, checks.boolean, 'blend the --class_names ("orange|lemon", two or more) from left '
                            "to right across each image instead of one class per image", kinds=("bigimg",), text=bool)  # fmt: skip
    # texture
    size: int = described(512, _whole(1), "wanted side in pixels; the nearest whole number of tile steps is used",
                          kinds=("texture",), text=int)  # fmt: skip
    # execution: views per chunk (None = auto), or a memory budget in bytes to derive it from
    max_views: int | None = described(None, _check_max_views, "views run through the generator at once outside "
                                      "the synced blocks: fewer use less memory; auto derives it from the model "
                                      "and the device's total memory", text="int_or_auto")  # fmt: skip
    memory_budget: int | None = described(None, _check_memory_budget, "derive --max_views from a memory budget, "
                                          "e.g. 6GB", text="optional")  # fmt: skip
    # output
    format: str = described("png", _one_of(FORMATS), "image format: " + ", ".join(FORMATS))
    quality: int = described(95, _whole(1, 100), "JPEG quality 1-100", text=int)
    save_views: bool = described(False, checks.boolean, "also write the raw views as one contact sheet, N_views.png",
                                 text=bool)  # fmt: skip
    cubemap: bool = described(False, checks.boolean, _EXPORT_HELP["cubemap"], kinds=("panorama",), text=bool)
    viewer: bool = described(False, checks.boolean, _EXPORT_HELP["viewer"], kinds=("panorama",), text=bool)
    turntable: bool = described(False, checks.boolean, _EXPORT_HELP["turntable"], kinds=("panorama",), text=bool)
    mesh: bool = described(False, checks.boolean, _EXPORT_HELP["mesh"], kinds=("panorama",), text=bool)
    export_point_cloud: bool = described(False, checks.boolean, _EXPORT_HELP["export_point_cloud"], kinds=("panorama",),
                                         text=bool)  # fmt: skip
    displace: float = described(0.0, check_displace, "colour-based displacement for --turntable/--mesh, -2 < D < 2, "
                                "e.g. 0.1", kinds=("panorama",), text=float)  # fmt: skip

    def __post_init__(self):
        for name, value in _checked(self._values(), plain_label, FIELDS).items():
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
        checks.choice(kind, label("kind"), KINDS)
        for name in values:
            if name not in FIELDS:
                close = difflib.get_close_matches(str(name), list(FIELDS), n=1)
                hint = f" (did you mean {label(close[0])}?)" if close else ""
                raise UsageError(f"unknown field {label(str(name))}{hint}; fields for {kind}: "
                                 f"{', '.join(label(n) for n in fields_for(kind))}")
            if name not in fields_for(kind):
                raise UsageError(f"{label(name)} does not apply to {kind}; fields for {kind}: "
                                 f"{', '.join(label(n) for n in fields_for(kind))}")
        sized = {}
        if kind == "panorama":  # one side given alone sets the other
            sized = dict(zip(("panorama_width", "panorama_height"),
                             panorama_size(values.get("panorama_width"), values.get("panorama_height"))))
        return cls._made({**DEFAULTS, **values, **sized}, label, FIELDS)

    @classmethod
    def _made(cls, values: dict, label: Label, to_check) -> "Request":
        """A request from every field's value, checking those named in ``to_check`` (the
        others are already checked values) and then the rules across fields."""
        request = cls.__new__(cls)
        for name, value in _checked(values, label, to_check).items():
            object.__setattr__(request, name, value)
        return request

    @classmethod
    def from_text(cls, values: Mapping[str, str], label: Label = plain_label) -> "Request":
        """Like :meth:`from_dict`, for values that are all text (a CSV row)."""
        return cls.from_dict({name: parse_text(name, text) for name, text in values.items()}, label)

    @classmethod
    def from_sidecar(cls, sidecar: "Mapping[str, Any] | str | os.PathLike") -> "Request":
        """The request recorded in a result's JSON sidecar (its ``request`` object): running
        it again gives the same result (same seed, same chunking). ``sidecar``: the file
        (a path, ``"beach.json"`` or ``Path("beach.json")``), its JSON text (which starts
        with ``{``) or the parsed object; a file is read as :func:`read_sidecar_json` reads
        it (size-capped, depth-bounded, data only)."""
        if isinstance(sidecar, os.PathLike) or (isinstance(sidecar, str) and not sidecar.lstrip().startswith("{")):
            sidecar = read_sidecar_file(sidecar)
        elif isinstance(sidecar, str):
            if len(sidecar) > MAX_SIDECAR_BYTES:
                raise UsageError(f"sidecar is larger than {MAX_SIDECAR_BYTES // 2**20} MiB; it is not a ganorama sidecar")
            try:
                sidecar = checks.parse_json(sidecar)
            except ValueError as error:
                raise UsageError(f"sidecar is not valid JSON ({error})") from None
        if not isinstance(sidecar, Mapping) or not isinstance(sidecar.get("request"), Mapping):
            raise UsageError("sidecar has no 'request' object; it was not written by this version of ganorama")
        return cls.from_dict(sidecar["request"])

    def to_dict(self) -> dict:
        """The fields that apply to this kind, as JSON-ready values (round-trips through
        :meth:`from_dict`)."""
        return {name: _jsonable(getattr(self, name)) for name in fields_for(self.kind)}

    def replace(self, **changes) -> "Request":
        """This request with ``changes``: only the changed fields are checked again (and
        the rules across fields), the others are already checked."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise TypeError(f"Request has no field {unknown[0]!r}")
        return self._made({**self._values(), **changes}, plain_label, changes)

    def _values(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def sampling(self) -> "Sampling":
        return Sampling(truncation=self.truncation, z_mul=self.z_mul, class_mul=self.class_mul,
                        share_z=not self.no_share_z, share_class=self.share_class,
                        start_layer=self.start_layer, end_layer=self.end_layer)  # fmt: skip

    @property
    def morph_specs(self) -> list[str] | None:
        return [name.strip() for name in str(self.classes).split("|")] if self.morph else None

    @property
    def exports(self) -> list[str]:
        return [name for name in EXPORTS if getattr(self, name)]


# Derived from the fields' descriptions: each field's check, the kinds that take it, how its
# text form is read, its help (in the command line's words: the CLI and batch show it), and
# its default (the CLI's flags and the keyword API use these).
FIELDS: dict[str, Callable[[Any, str], Any]] = {f.name: f.metadata["check"] for f in fields(Request)}
FIELD_KINDS: dict[str, tuple[str, ...]] = {f.name: f.metadata["kinds"] for f in fields(Request)}
FIELD_TYPES: dict[str, Any] = {f.name: f.metadata["text"] for f in fields(Request)}
FIELD_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(Request)}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Request)}


@dataclass(frozen=True)
class Sampling:
    """How latents and classes are drawn; the seed's flags and defaults, checked when made
    with the request fields' own checks (``share_z`` is the field ``no_share_z`` turned round)."""

    truncation: float = DEFAULTS["truncation"]
    z_mul: float = DEFAULTS["z_mul"]
    class_mul: float = DEFAULTS["class_mul"]
    share_z: bool = not DEFAULTS["no_share_z"]
    share_class: bool = DEFAULTS["share_class"]
    start_layer: int = DEFAULTS["start_layer"]
    end_layer: int = DEFAULTS["end_layer"]

    def __post_init__(self):
        checks.boolean(self.share_z, "share_z")
        values = self.as_request_fields()
        for name in ("truncation", "z_mul", "class_mul", "no_share_z", "share_class", "start_layer", "end_layer"):
            FIELDS[name](values[name], name)
        _check_layer_order(values, plain_label)

    def validate(self, num_blocks: int | None = None) -> None:
        """Raise UsageError if the layer range goes past the model's ``num_blocks``."""
        if num_blocks is not None:
            check_layer_range(self.start_layer, self.end_layer, num_blocks)

    def as_request_fields(self) -> dict:
        return dict(truncation=self.truncation, z_mul=self.z_mul, class_mul=self.class_mul,
                    no_share_z=not self.share_z, share_class=self.share_class,
                    start_layer=self.start_layer, end_layer=self.end_layer)  # fmt: skip


def check_layer_range(start_layer: int, end_layer: int, num_blocks: int, label: Label = plain_label) -> None:
    """UsageError if the synced blocks ``start_layer <= i < end_layer`` go past the model's
    ``num_blocks`` (the order of the two is the request's own check)."""
    if end_layer > num_blocks:
        raise UsageError(
            f"layer range {label('start_layer')} {start_layer} {label('end_layer')} {end_layer} is invalid; this "
            f"model has {num_blocks} blocks: need 0 <= start_layer <= end_layer <= {num_blocks}"
        )


def read_sidecar_file(path: "str | os.PathLike") -> Any:
    """The JSON in the sidecar file ``path``, read as :func:`read_sidecar_json` reads it;
    UsageError naming the path when there is no such file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"sidecar {path} does not exist" if not file.exists() else f"sidecar {path} is not a file")
    return read_sidecar_json(file, f"sidecar {path}")


def read_sidecar_json(path, what: str, hint: str = "") -> Any:
    """The JSON in the sidecar file at ``path``, size-capped and read as data only.
    ``what`` names the file in messages ("sidecar 3.json", "the uploaded file"); ``hint``
    ends the message for a file that is not JSON."""
    import os

    if os.path.getsize(path) > MAX_SIDECAR_BYTES:
        raise UsageError(f"{what} is larger than {MAX_SIDECAR_BYTES // 2**20} MiB; it is not a ganorama sidecar")
    with open(path, "rb") as file:
        return parse_sidecar_json(file.read(), what, hint)


def parse_sidecar_json(data: bytes, what: str, hint: str = "") -> Any:
    """The JSON in a sidecar's bytes (a file's, or a page's upload), checked as
    :func:`read_sidecar_json` checks a file."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise UsageError(f"{what} is larger than {MAX_SIDECAR_BYTES // 2**20} MiB; it is not a ganorama sidecar")
    try:
        return checks.parse_json(data.decode("utf-8"))
    except checks.JSONTooDeep as error:
        raise UsageError(f"{what} is not valid JSON for a sidecar ({error}){hint}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"{what} is not valid JSON ({error.__class__.__name__}){hint}") from None


def panorama_size(width: Any, height: Any) -> tuple[Any, Any]:
    """The panorama size asked for (None = not given): one side alone sets the other
    (a width of 4096 alone is 4096 x 2048, ``auto`` alone the views' native size),
    neither gives the defaults."""
    if width is None and height is None:
        return DEFAULTS["panorama_width"], DEFAULTS["panorama_height"]
    return (AUTO if width is None else width), (AUTO if height is None else height)


def fields_for(kind: str) -> tuple[str, ...]:
    """The fields a request of ``kind`` takes, in declaration order."""
    return tuple(name for name in FIELDS if kind in FIELD_KINDS[name])


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if hasattr(value, "__dataclass_fields__"):  # a layout's View
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


# --- rules across fields ------------------------------------------------------------------------


def _checked(values: Mapping[str, Any], label: Label, to_check) -> dict:
    """Every field's value, those named in ``to_check`` through their checks (the others
    are checked values already), after the rules across fields."""
    checked = {name: FIELDS[name](value, label(name)) if name in to_check else value
               for name, value in values.items()}  # fmt: skip
    _check_together(checked, label)
    return checked


def _check_layer_order(values: Mapping[str, Any], label: Label) -> None:
    if values["start_layer"] > values["end_layer"]:
        raise UsageError(f"layer range {label('start_layer')} {values['start_layer']} {label('end_layer')} "
                         f"{values['end_layer']} is invalid; need start_layer <= end_layer (blocks start <= i < end)")


def _check_together(values: dict, label: Label) -> None:
    """Checks that involve more than one field."""
    _check_layer_order(values, label)
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
    if kind == "bigimg":
        check_wrap(values["wrap"], values["overlap"], label)
    if kind == "panorama":
        width, height = values["panorama_width"], values["panorama_height"]
        if AUTO not in (width, height) and width != 2 * height:
            raise UsageError(f"panorama size {width}x{height} is not 2:1; an equirectangular panorama is exactly "
                             f"twice as wide as tall: {width}x{width // 2} (give {label('panorama_width')} "
                             f"{width} alone) or {2 * height}x{height}; {_power_of_two_hint(width)}")
    if values["viewer"] and values["format"] in FLOAT_FORMATS:
        raise UsageError(f"{label('viewer')} embeds the image in a web page, which shows PNG or JPEG only; "
                         f"{label('format')} {values['format']} cannot go in it: allowed with it: png, jpg")
    if values["max_views"] is not None and values["memory_budget"] is not None:
        raise UsageError(f"give {label('max_views')} or {label('memory_budget')}, not both")


def _power_of_two_hint(width: int) -> str:
    """The power-of-two panorama nearest ``width``, which GPU textures and glTF prefer."""
    power = 1 << max(1, round(max(width, 2) - 1).bit_length() - 1)
    nearest = min((power, 2 * power), key=lambda candidate: abs(candidate - width))
    return f"powers of two suit GPU textures and glTF: {nearest}x{nearest // 2}"


# --- many results from one template --------------------------------------------------------


def numbered_requests(template: Mapping[str, Any], count: int, class_names: str | None = None,
                      base_seed: int | None = None, label: Label = plain_label) -> Iterator[Request]:
    """``count`` requests from one template, the original tool's ``-n`` rule: result k uses
    class name k mod the number of ``class_names`` ("a|b|c"; all of them with morph) and
    seed ``base_seed + k`` (random when ``base_seed`` is None)."""
    count = checks.integer(count, label("num_generations"), 1, None)
    if base_seed is not None:
        checks.integer(base_seed, label("seed"), 0, MAX_SEED)
        if base_seed + count - 1 > MAX_SEED:
            raise UsageError(f"{label('seed')} {base_seed} with {count} results runs past the largest seed "
                             f"{MAX_SEED} (result k uses seed + k); allowed: 0 to {MAX_SEED - count + 1}")
    names = [None]
    if class_names is not None:
        names = [name.strip() for name in str(class_names).split("|")]
        if not all(names):  # one rule whatever -n is: the library and batch refuse it too
            raise UsageError(f"{label('class_names')} {class_names!r} has an empty name; give names, ids or mixes "
                             "between the '|'s")  # fmt: skip
        if template.get("morph"):
            names = [class_names]
    # Each name is checked once; the results after the first of a name change only the seed.
    first: dict[int, Request] = {}
    for index in range(count):
        seed = None if base_seed is None else base_seed + index
        slot = index % len(names)
        if slot in first:
            yield first[slot].replace(seed=seed)
            continue
        values = dict(template, seed=seed)
        if names[slot] is not None:
            values["classes"] = names[slot]
        first[slot] = Request.from_dict(values, label)
        yield first[slot]
