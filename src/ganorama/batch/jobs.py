"""Job files and rows: what ``ganorama batch`` is asked to make.

A :class:`Row` is a :class:`~ganorama.request.Request` plus where it was read and a
stable output name. Rows come from a job file (:func:`read_jobs` / :func:`parse_jobs`:
JSONL or CSV, the CLI's option names as fields, plus an optional ``id``) or from a
template (:func:`numbered_rows`). Every row is checked before anything runs, each error
naming the row's line; :func:`check_rows_with_model` checks them against the model's
architecture too (no weights needed).
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ganorama.checks import parse_json
from ganorama.errors import UsageError, UsageErrors
from ganorama.formats import suffix_for
from ganorama.request import FIELDS, KINDS, Request, fields_for, numbered_requests, plain_label
from ganorama.walks import FRAME_FIELDS, FRAME_SIZE_DEFAULTS, WALK_FIELDS, Walk, walk_from_fields

ID_FIELD = "id"
# An id becomes a file name on any filesystem: no separators, no leading dot (hidden,
# and the mark of temporaries), at most 100 characters.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
SUMMARY_NAME = "summary.json"
# A rerun's summary takes the next free name (summary-2.json, ...): none is ever replaced.
SUMMARY_PATTERN = re.compile(r"^summary(?:-\d+)?\.json$")
# Bad rows named in the one-line error after the first.
MORE_BAD_ROWS_SHOWN = 5
# Rows in one run (each is held and checked in the driver before Ray starts).
MAX_ROWS = 100_000
# A row of this kind is a 360 video: a walk (WALK_FIELDS) of panoramas (FRAME_FIELDS).
ANIMATE_KIND = "animate"
ANIMATE_FIELDS = ("kind", "classes", "seed", *WALK_FIELDS, *FRAME_FIELDS)
ROW_KINDS = (*KINDS, ANIMATE_KIND)
# A video row's frames are kept in OUT/ID.frames/ (the layout of ganorama animate --frames_dir).
FRAMES_FOLDER_SUFFIX = ".frames"


def row_fields(kind: str) -> tuple[str, ...]:
    """The fields a row of ``kind`` takes: a request's, or an animate row's."""
    return ANIMATE_FIELDS if kind == ANIMATE_KIND else fields_for(kind)


def row_name(index: int) -> str:
    """The output name of a row without an ``id``: its position, zero-padded."""
    return f"row-{index:06d}"


@dataclass(frozen=True)
class Row:
    """One result of a job: its position (from 0), where it was read (``jobs.jsonl line
    7``), its output name (the ``id`` field, else ``row-000042``) and its request. A video
    row (kind ``animate``) has a ``walk`` too, and its request is the panorama every frame
    shares (the first keyframe's classes and seed)."""

    index: int
    where: str
    name: str
    request: Request
    walk: Walk | None = None

    @property
    def image_name(self) -> str:
        return self.name + (".mp4" if self.walk is not None else suffix_for(self.request.format))

    @property
    def frames_folder(self) -> str:
        return self.name + FRAMES_FOLDER_SUFFIX

    @property
    def units(self) -> int:
        """What the progress counts for it: its frames, or one result."""
        return self.walk.frames if self.walk is not None else 1

    @property
    def sidecar_name(self) -> str:
        return f"{self.name}.json"

    def file_names(self) -> dict[str, str]:
        """The name of every file the row's result has, by role (see ``result_paths``)."""
        if self.walk is not None:
            return {"video": self.image_name, "sidecar": self.sidecar_name, "frames": self.frames_folder}
        from ganorama.outputs import result_paths

        return {role: path.name for role, path in result_paths(Path(self.image_name), self.request).items()}

    def to_record(self, frames: range | None = None) -> dict:
        """Plain data for a Ray dataset (a Request is rebuilt from it on the worker); a
        video row's task names the ``frames`` it makes ("start:stop"). Every record has
        every column (Ray Data's blocks share one schema)."""
        return {"index": self.index, "where": self.where, "name": self.name,
                "request": json.dumps(self.request.to_dict()),
                "walk": json.dumps(self.walk.to_dict()) if self.walk is not None else "",
                "frames": f"{frames.start}:{frames.stop}" if frames is not None else ""}  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping) -> "Row":
        walk = str(record.get("walk") or "")
        return cls(int(record["index"]), str(record["where"]), str(record["name"]),
                   Request.from_dict(json.loads(str(record["request"]))),
                   Walk.from_dict(json.loads(walk)) if walk else None)  # fmt: skip


def record_frames(record: Mapping) -> range | None:
    """The frames a task record asks for (see :meth:`Row.to_record`), None for a result row."""
    text = str(record.get("frames") or "")
    if not text:
        return None
    start, _, stop = text.partition(":")
    return range(int(start), int(stop))


# --- job files ---------------------------------------------------------------------------


def read_jobs(path: str | os.PathLike, defaults: Mapping[str, Any] | None = None) -> list[Row]:
    """The rows of the job file at ``path``: JSONL (one JSON object per line) or CSV (a
    header of field names, one row per line), by suffix (``.csv``, else JSONL).
    ``defaults`` (e.g. the command line's flags) fill the fields a row leaves out where
    they apply to its kind. Raises UsageError naming the first bad row's line."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"job file {path} does not exist" if not path.exists() else f"job file {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"job file {path} is not UTF-8 text (byte {error.start})") from None
    return parse_jobs(text, path.name, "csv" if path.suffix.lower() == ".csv" else "jsonl", defaults)


def parse_jobs(text: str, source: str, format: str = "jsonl", defaults: Mapping[str, Any] | None = None) -> list[Row]:
    """Rows from a job file's ``text`` (``format`` "jsonl" or "csv"); ``source`` names it
    in messages. Every row is checked; a UsageError names the first bad one and how many
    more there are."""
    if format not in ("jsonl", "csv"):
        raise UsageError(f"job format {format!r} is invalid; allowed: jsonl, csv")
    entries = _csv_entries(text, source) if format == "csv" else _jsonl_entries(text, source)
    rows, errors = [], []
    for index, (line, values) in enumerate(entries):
        if index == MAX_ROWS:
            check_row_count(index + 1, f"job file {source} (more than {MAX_ROWS} rows)")
        where = f"{source} line {line}"
        try:
            rows.append(_row(index, where, values, defaults or {}))
        except UsageError as error:
            errors.append((line, f"{where}: {error}"))
    if errors:
        raise UsageErrors(_bad_rows_message(errors), [message for _, message in errors])
    if not rows:
        raise UsageError(f"job file {source} has no rows; write one JSON object per line, e.g. "
                         '{"kind": "panorama", "classes": "sandbar", "seed": 1}')  # fmt: skip
    check_unique_names(rows)
    return rows


def _jsonl_entries(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) per non-blank line; a line that is not JSON is an
    entry holding the UsageError, so that it is reported in line order with the others."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, parse_json(line)
        except ValueError as error:
            reason = getattr(error, "msg", str(error))
            column = getattr(error, "colno", None)
            yield number, UsageError(f"not valid JSON ({reason}{f' at column {column}' if column else ''}); "
                                     "each line must be one JSON object, e.g. "
                                     '{"classes": "sandbar", "seed": 1}')  # fmt: skip


def _csv_entries(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """(line number, {field: text}) per CSV row, empty cells left out (the default, or
    the command line's value, applies)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as error:
        yield 1, UsageError(f"the header is not a CSV row this tool can read ({error})")
        return
    if header is None:
        return
    header = [name.strip() for name in header]
    _check_header(header, source)
    line = reader.line_num
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as error:  # e.g. a cell over the csv module's field size limit
            yield line + 1, UsageError(f"not a CSV row this tool can read ({error}); no field of a job is that long")
            return
        if cells is None:
            return
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            yield start, UsageError(f"{len(cells)} cells but the header names {len(header)} fields")
            continue
        yield start, {name: _CsvText(cell) for name, cell in zip(header, cells) if cell.strip()}


class _CsvText(str):
    """A CSV cell: text to be read as the field's type (``Request.from_text``'s rule)."""


def _check_header(header: list[str], source: str) -> None:
    known = [ID_FIELD, *FIELDS, *WALK_FIELDS]
    for name in header:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{source} line 1: unknown column {name!r}{hint}; columns are field names: "
                             f"{', '.join(known)}")  # fmt: skip
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UsageError(f"{source} line 1: column {repeated[0]!r} appears twice")


def _row(index: int, where: str, values: Any, defaults: Mapping[str, Any]) -> Row:
    if isinstance(values, UsageError):
        raise values
    if not isinstance(values, Mapping):
        raise UsageError(f"a row must be a JSON object of fields, not {type(values).__name__}, e.g. "
                         '{"classes": "sandbar", "seed": 1}')  # fmt: skip
    values = dict(values)
    name = _check_id(values.pop(ID_FIELD)) if ID_FIELD in values else row_name(index)
    values = {key: (_parse_cell(key, value) if isinstance(value, _CsvText) else value) for key, value in values.items()}
    values = with_defaults(values, defaults)
    if isinstance(values.get("kind"), str) and values["kind"] not in ROW_KINDS:
        raise UsageError(f"kind {values['kind']!r} is invalid; allowed: {', '.join(ROW_KINDS)}")
    if values.get("kind") == ANIMATE_KIND:
        return _video_row(index, where, name, values)
    return Row(index, where, name, Request.from_dict(values))


def _video_row(index: int, where: str, name: str, values: dict) -> Row:
    """An animate row: its walk and the panorama request every frame shares, checked as
    ``ganorama animate`` checks its flags (every keyframe's classes and seed too)."""
    unknown = [key for key in values if key not in ANIMATE_FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], ANIMATE_FIELDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown field {unknown[0]} for an animate row{hint}; allowed: {', '.join(ANIMATE_FIELDS)}")
    walk = walk_from_fields(values)
    first = walk.keyframes[0]
    request = Request.from_dict({"kind": "panorama", "classes": first.classes, "seed": first.seed,
                                 **FRAME_SIZE_DEFAULTS, **{key: values[key] for key in FRAME_FIELDS if key in values}})  # fmt: skip
    for keyframe in walk.keyframes[1:]:
        request.replace(classes=keyframe.classes, seed=keyframe.seed)
    return Row(index, where, name, request, walk)


def _parse_cell(name: str, text: str) -> Any:
    from ganorama.request import parse_switch, parse_text

    if name in ("frames", "keyframes"):
        return _number_text(text, int)
    if name in ("seconds", "fps"):
        return _number_text(text, float)
    if name == "loop":
        return parse_switch(str(text))
    return parse_text(name, str(text)) if name in FIELDS else str(text)


def _number_text(text: str, kind: type) -> Any:
    """A CSV cell as a number, or its text (the field's check names it as not a number)."""
    try:
        return kind(text.strip())
    except ValueError:
        return str(text)


def _check_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise UsageError(f"id {value!r} is invalid; allowed: 1-100 letters, digits, '_', '-', '.', '+', starting "
                         "with a letter or digit (it names the output files)")  # fmt: skip
    return value


def with_defaults(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict:
    """``values`` plus each default the row leaves out and its kind takes."""
    kind = values.get("kind", defaults.get("kind", "panorama"))
    merged = {name: value for name, value in defaults.items() if name not in values and
              (name == "kind" or (isinstance(kind, str) and kind in ROW_KINDS and name in row_fields(kind)))}  # fmt: skip
    merged.update(values)
    return merged


def _bad_rows_message(errors: list[tuple[Any, str]]) -> str:
    """The first bad row in full and where the others are (a line number, or a row's place)."""
    message = errors[0][1]
    if len(errors) > 1:
        lines = ", ".join(str(line).rpartition(" line ")[2] for line, _ in errors[1 : 1 + MORE_BAD_ROWS_SHOWN])
        more = "..." if len(errors) > 1 + MORE_BAD_ROWS_SHOWN else ""
        message += f" ({len(errors) - 1} more bad row{'s' if len(errors) > 2 else ''}: line{'s' if len(errors) > 2 else ''} {lines}{more})"
    return message


def check_unique_names(rows: Sequence[Row]) -> None:
    """UsageError if two rows would write a file of the same name (same ``id``, or an
    id like ``a_views`` meeting row ``a``'s views), or a row would write summary.json."""
    owners: dict[str, Row] = {}
    for row in rows:
        for name in row.file_names().values():
            if SUMMARY_PATTERN.match(name):
                raise UsageError(f"{row.where}: id {row.name!r} is reserved (the batch writes its summary as "
                                 f"{SUMMARY_NAME}, or summary-N.json when rerun)")
            other = owners.setdefault(name, row)
            if other is not row:
                raise UsageError(f"{row.where}: output {name} is also written by {other.where}; give each row "
                                 "its own id")  # fmt: skip


def summary_name(taken: set[str]) -> str:
    """The name this run's summary takes beside the names ``taken`` in OUT: summary.json,
    else summary-N.json for the least free N >= 2 (a rerun never replaces an earlier one)."""
    if SUMMARY_NAME not in taken:
        return SUMMARY_NAME
    number = 2
    while f"summary-{number}.json" in taken:
        number += 1
    return f"summary-{number}.json"


def check_row_count(count: int, what: str) -> None:
    """UsageError past :data:`MAX_ROWS` rows (``what`` says where they come from): every
    row is held and checked before Ray starts, so a run's rows must fit in the driver's
    memory and its pre-flight take seconds."""
    if count > MAX_ROWS:
        raise UsageError(f"{what} is too many rows for one run; allowed: 1 to {MAX_ROWS} rows (split the job into "
                         "several runs into the same OUT)")  # fmt: skip


def numbered_rows(template: Mapping[str, Any], count: int, class_names: str | None = None,
                  base_seed: int | None = None, label: Callable[[str], str] = plain_label) -> list[Row]:  # fmt: skip
    """``count`` rows from one template (``--count N --base_seed S``): row k has seed
    ``S + k`` and class name k mod the number of ``class_names`` (``"a|b"``)."""
    check_row_count(count, f"{label('count')} {count}")
    requests = numbered_requests(template, count, class_names, base_seed, label=label)
    return [Row(index, f"row {index}", row_name(index), request) for index, request in enumerate(requests)]


# --- checks against the model ------------------------------------------------------------


def rows_seconds_estimate(rows: Sequence[Row], plans: Mapping[int, Any], config, device="cpu", dtype=None,
                          units: Callable[[Row], int] | None = None) -> float:  # fmt: skip
    """About how many seconds making ``rows`` takes on one ``device`` in ``dtype`` (their
    forwards and what surrounds them; not Ray's start or the model's load), ``units(row)``
    results each (default :attr:`Row.units`: a video's every frame), from their ``plans``
    by row index (what :func:`check_rows_with_model` returns):
    :meth:`ganorama.planning.Planner.seconds_estimate`, no weights needed."""
    import torch

    from ganorama.planning import Planner

    planner = Planner(config, torch.device(device), dtype or torch.float32)
    return sum(planner.seconds_estimate(plans[row.index], row.units if units is None else units(row)) for row in rows)


def check_rows_with_model(rows: Sequence[Row], config, device="cpu", dtype=None, batch: int | str = 1,
                          check_memory: bool = True) -> dict[int, Any]:  # fmt: skip
    """Plan every row of ``rows`` against the architecture ``config`` (no weights needed):
    layer ranges, overlaps on the feature grids, sizes and (with ``check_memory``, once
    per distinct canvas) whether ``batch`` such canvases fit in ``device``'s memory now.
    A video row's frames need even sides (H.264). Returns each row's
    :class:`~ganorama.planning.RunPlan` by row index; :class:`~ganorama.errors.UsageErrors`
    names every row that cannot run."""
    import torch

    from ganorama.export.frames import check_video_size
    from ganorama.planning import Planner

    planner = Planner(config, torch.device(device), dtype or torch.float32)
    checked: set = set()
    plans: dict[int, Any] = {}
    errors = []
    alike: dict[str, int] = {}  # a fault's message -> how many more rows have it
    for row in rows:
        try:
            plan = planner.plan(row.request)  # canvases are shared: a row of a known canvas costs little
            if row.walk is not None:
                check_video_size(plan.width, plan.height)
            plans[row.index] = plan
            if plan.key() in checked:
                continue
            checked.add(plan.key())
            group = planner.group_for(plan, batch)
            if check_memory:
                planner.check_fits(group)
        except UsageError as error:
            # Rows of one canvas fail alike (100,000 rows of a budget too small): one line
            # names the first, with how many more share its fault.
            fault = str(error)
            if fault in alike:
                alike[fault] += 1
                continue
            alike[fault] = 0
            errors.append((row.where, f"{row.where}: {fault}", fault))
    if errors:
        lines = [message + (f" (and {alike[fault]:,} more rows like it)" if alike[fault] else "")
                 for _, message, fault in errors]  # fmt: skip
        raise UsageErrors(_bad_rows_message([(where, line) for (where, _, _), line in zip(errors, lines)]), lines)
    return plans
