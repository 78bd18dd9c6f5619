"""Many results from one job: ``ganorama batch`` as a library, on Ray.

A job is a list of :class:`Row` values, each a :class:`~ganorama.request.Request` plus a
stable output name. Rows come from a job file (:func:`read_jobs`: JSONL or CSV, one row
per result, the CLI's option names as fields, plus an optional ``id``) or from a template
(:func:`numbered_rows`: ``--count N --base_seed S``). Every row is checked before anything
runs, and each error names the row's line.

:func:`run_batch` runs the rows that are not done yet on Ray Data: each worker loads the
model once, runs its rows with :meth:`~ganorama.pipeline.Ganorama.run_many` (rows that
share a canvas go through one forward) and writes every result itself as soon as it is
made, so a killed worker loses only the rows it was making. Names come from the rows,
never from a counter, so workers never collide and a rerun finds what is done: a row
whose sidecar exists and records the row's request is skipped (see :func:`plan_rows`).
:func:`process_rows` is one worker's work without Ray (usable and tested on its own).
"""
from __future__ import annotations

import contextlib
import csv
import difflib
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ganorama.errors import GanoramaError, UsageError
from ganorama.request import AUTO, FIELDS, Request, fields_for, numbered_requests, plain_label

ID_FIELD = "id"
# An id becomes a file name on any filesystem: no separators, no leading dot (hidden,
# and the mark of temporaries), at most 100 characters.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
SUMMARY_NAME = "summary.json"
# Times a task whose worker died (killed, out of memory) is run again before its rows are
# reported failed: enough for a lost machine, not forever for a row that kills every worker.
TASK_RETRIES = 3
# Bad rows named in the one-line error after the first.
MORE_BAD_ROWS_SHOWN = 5
INSTALL_HINT = 'pip install "ganorama[ray]"'


def row_name(index: int) -> str:
    """The output name of a row without an ``id``: its position, zero-padded."""
    return f"row-{index:06d}"


@dataclass(frozen=True)
class Row:
    """One result of a job: its position (from 0), where it was read (``jobs.jsonl line
    7``), its output name (the ``id`` field, else ``row-000042``) and its request."""

    index: int
    where: str
    name: str
    request: Request

    @property
    def image_name(self) -> str:
        return f"{self.name}.{self.request.format}"

    @property
    def sidecar_name(self) -> str:
        return f"{self.name}.json"

    def file_names(self) -> dict[str, str]:
        """The name of every file the row's result has, by role (see ``result_paths``)."""
        from ganorama.outputs import result_paths

        return {role: path.name for role, path in result_paths(Path(self.image_name), self.request).items()}

    def to_record(self) -> dict:
        """Plain data for a Ray dataset (a Request is rebuilt from it on the worker)."""
        return {"index": self.index, "where": self.where, "name": self.name,
                "request": json.dumps(self.request.to_dict())}  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping) -> "Row":
        return cls(int(record["index"]), str(record["where"]), str(record["name"]),
                   Request.from_dict(json.loads(str(record["request"]))))  # fmt: skip


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
        where = f"{source} line {line}"
        try:
            rows.append(_row(index, where, values, defaults or {}))
        except UsageError as error:
            errors.append((line, f"{where}: {error}"))
    if errors:
        raise UsageError(_bad_rows_message(errors))
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
            yield number, json.loads(line)
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
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    _check_header(header, source)
    line = reader.line_num
    for cells in reader:
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
    known = [ID_FIELD, *FIELDS]
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
    return Row(index, where, name, Request.from_dict(with_defaults(values, defaults)))


def _parse_cell(name: str, text: str) -> Any:
    from ganorama.request import parse_text

    return parse_text(name, str(text)) if name in FIELDS else str(text)


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
              (name == "kind" or (isinstance(kind, str) and name in fields_for(kind)))}  # fmt: skip
    merged.update(values)
    return merged


def _bad_rows_message(errors: list[tuple[int, str]]) -> str:
    message = errors[0][1]
    if len(errors) > 1:
        lines = ", ".join(str(line) for line, _ in errors[1 : 1 + MORE_BAD_ROWS_SHOWN])
        more = "..." if len(errors) > 1 + MORE_BAD_ROWS_SHOWN else ""
        message += f" ({len(errors) - 1} more bad row{'s' if len(errors) > 2 else ''}: line{'s' if len(errors) > 2 else ''} {lines}{more})"
    return message


def check_unique_names(rows: Sequence[Row]) -> None:
    """UsageError if two rows would write a file of the same name (same ``id``, or an
    id like ``a_views`` meeting row ``a``'s views), or a row would write summary.json."""
    owners: dict[str, Row] = {}
    for row in rows:
        for name in row.file_names().values():
            if name == SUMMARY_NAME:
                raise UsageError(f"{row.where}: id {row.name!r} is reserved (the batch writes {SUMMARY_NAME})")
            other = owners.setdefault(name, row)
            if other is not row:
                raise UsageError(f"{row.where}: output {name} is also written by {other.where}; give each row "
                                 "its own id")  # fmt: skip


def numbered_rows(template: Mapping[str, Any], count: int, class_names: str | None = None,
                  base_seed: int | None = None, label: Callable[[str], str] = plain_label) -> list[Row]:  # fmt: skip
    """``count`` rows from one template (``--count N --base_seed S``): row k has seed
    ``S + k`` and class name k mod the number of ``class_names`` (``"a|b"``)."""
    requests = numbered_requests(template, count, class_names, base_seed, label=label)
    return [Row(index, f"row {index}", row_name(index), request) for index, request in enumerate(requests)]


# --- checks against the model ------------------------------------------------------------


def check_rows_with_model(rows: Sequence[Row], config, device="cpu", dtype=None, batch: int | str = 1,
                          check_memory: bool = True) -> None:  # fmt: skip
    """Plan every distinct canvas among ``rows`` against the architecture ``config`` (no
    weights needed): layer ranges, overlaps on the feature grids, sizes and (with
    ``check_memory``) whether ``batch`` such canvases fit in ``device``'s memory now.
    UsageError names the first row that cannot run."""
    import torch

    from ganorama.memory import check_fits
    from ganorama.pipeline import plan_group

    dtype = dtype or torch.float32
    planned: set[str] = set()
    for row in rows:
        shape = _canvas_key(row.request)
        if shape in planned:
            continue
        planned.add(shape)
        try:
            plan = plan_group(row.request, config, device, dtype, batch)
            if check_memory:
                check_fits(plan.memory, device)
        except UsageError as error:
            raise UsageError(f"{row.where}: {error}") from None


def _canvas_key(request: Request) -> str:
    """What decides a row's plan: everything but what only changes the pixels."""
    values = request.to_dict()
    for name in ("seed", "classes", "z_mul", "class_mul", "no_share_z", "share_class", "format", "quality"):
        values.pop(name, None)
    return json.dumps(values, sort_keys=True)


# --- where results go ----------------------------------------------------------------------


class Destination:
    """OUT: a local directory (a path or ``file://``) or any fsspec URL, holding each
    row's files under the row's name and the batch's summary.json."""

    def __init__(self, url: str):
        from ganorama.outputs import is_local_url, local_path

        self.url = str(url)
        self.local = local_path(self.url) if is_local_url(self.url) else None
        self._fs = None
        self._root = None

    def __reduce__(self):  # workers get the URL and open the filesystem themselves
        return (Destination, (self.url,))

    @property
    def filesystem(self):
        if self._fs is None:
            from ganorama.outputs import url_filesystem

            self._fs, self._root = url_filesystem(self.url)
        return self._fs, self._root

    def display(self, name: str) -> str:
        from ganorama.outputs import join_url

        return str(self.local / name) if self.local is not None else join_url(self.url, name)

    # --- before a run ----------------------------------------------------------------------

    def check(self) -> None:
        """UsageError unless OUT can be a directory of results (checked before anything is
        written; nothing is created)."""
        if self.local is not None:
            from ganorama.resources import nearest_existing

            probe = nearest_existing(self.local)
            if probe.exists() and not probe.is_dir():
                raise UsageError(f"OUT {self.url}: {probe} is a file, not a directory")
        else:
            fs, root = self.filesystem
            if fs.isfile(root):
                raise UsageError(f"OUT {self.url} is a file, not a directory")

    def prepare(self) -> None:
        """Create OUT (and check it is writable) right before the run."""
        if self.local is not None:
            from ganorama.outputs import prepare_directory

            prepare_directory(self.local, "OUT")
        else:
            fs, root = self.filesystem
            fs.makedirs(root, exist_ok=True)

    def names(self) -> set[str]:
        """The names of the files and folders directly in OUT (empty if it does not exist)."""
        if self.local is not None:
            return set(os.listdir(self.local)) if self.local.is_dir() else set()
        fs, root = self.filesystem
        try:
            return {entry.rstrip("/").rpartition("/")[2] for entry in fs.ls(root, detail=False)}
        except FileNotFoundError:
            return set()

    def read_text(self, name: str) -> str | None:
        try:
            if self.local is not None:
                return (self.local / name).read_text(encoding="utf-8")
            fs, root = self.filesystem
            from ganorama.outputs import join_url

            with fs.open(join_url(root, name), "rb") as handle:
                return handle.read().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return ""  # unreadable: not a sidecar we wrote

    # --- writing -----------------------------------------------------------------------------

    def remove(self, name: str) -> None:
        """Remove a file or folder of an unfinished result (no sidecar: a killed writer's)."""
        import shutil

        if self.local is not None:
            path = self.local / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink()
            return
        fs, root = self.filesystem
        from ganorama.outputs import join_url

        target = join_url(root, name)
        if fs.exists(target):
            fs.rm(target, recursive=True)

    def save(self, result, row: Row) -> list[str]:
        from ganorama.outputs import save_result_files_to_url

        return save_result_files_to_url(result, self.url, row.name, format=row.request.format)

    def write_summary(self, summary: dict) -> str:
        from ganorama.outputs import write_bytes_to_url

        text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
        return write_bytes_to_url(self.display(SUMMARY_NAME), text.encode("utf-8"), overwrite=True)

    def remove_temporaries(self) -> list[str]:
        from ganorama.outputs import remove_url_temporaries

        if self.local is not None and not self.local.is_dir():
            return []
        return remove_url_temporaries(self.url)


# --- what is done already ---------------------------------------------------------------------


def recorded_request(sidecar_text: str | None) -> Request | None:
    """The request a sidecar records, or None if it is missing or not a complete sidecar."""
    if not sidecar_text:
        return None
    try:
        return Request.from_sidecar(sidecar_text)
    except UsageError:
        return None


def request_differences(wanted: Request, recorded: Request) -> list[str]:
    """The fields in which a result made for ``recorded`` is not one ``wanted`` asks for.
    What ``wanted`` leaves to the run (a random seed, auto chunking, an auto size) takes
    the recorded value."""
    fill: dict[str, Any] = {}
    if wanted.seed is None:
        fill["seed"] = recorded.seed
    if wanted.max_views is None or wanted.memory_budget is not None:
        fill.update(max_views=recorded.max_views, memory_budget=None)
    if wanted.kind == "panorama" and recorded.kind == "panorama":
        for name in ("panorama_width", "panorama_height"):
            if getattr(wanted, name) == AUTO:
                fill[name] = getattr(recorded, name)
    resolved, found = wanted.replace(**fill).to_dict(), recorded.to_dict()
    return [name for name in sorted(set(resolved) | set(found)) if resolved.get(name) != found.get(name)]


@dataclass
class RowPlan:
    """Which rows a run makes and which are done already."""

    todo: list[Row]
    done: list[Row]


def plan_rows(rows: Sequence[Row], destination: Destination) -> RowPlan:
    """Split ``rows`` into those to make and those whose complete sidecar (recording the
    row's request) is already in OUT. A sidecar that records another request means the
    job changed since that result was made: UsageError, before anything runs."""
    present = destination.names()
    todo, done = [], []
    for row in rows:
        if row.sidecar_name not in present:
            todo.append(row)
            continue
        recorded = recorded_request(destination.read_text(row.sidecar_name))
        if recorded is None:
            raise UsageError(f"{row.where}: {destination.display(row.sidecar_name)} exists but is not a complete "
                             "ganorama sidecar; remove it or choose another OUT")  # fmt: skip
        differences = request_differences(row.request, recorded)
        if differences:
            detail = ", ".join(f"{name} {getattr(recorded, name)!r} not {getattr(row.request, name)!r}"
                               for name in differences[:3])  # fmt: skip
            raise UsageError(f"{row.where}: {destination.display(row.sidecar_name)} holds another request "
                             f"({detail}); the job changed since it was made: choose another OUT or remove it")
        done.append(row)
    return RowPlan(todo, done)


# --- one worker's work ----------------------------------------------------------------------------


@dataclass
class RowStatus:
    """What became of a row: ``done`` (written now), ``skipped`` (done before) or
    ``failed`` (with the one-line error)."""

    index: int
    name: str
    where: str
    status: str
    error: str | None = None
    files: list[str] = field(default_factory=list)

    def to_record(self) -> dict:
        return {"index": self.index, "name": self.name, "where": self.where, "status": self.status,
                "error": self.error or "", "files": json.dumps(self.files)}  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping) -> "RowStatus":
        return cls(int(record["index"]), str(record["name"]), str(record["where"]), str(record["status"]),
                   str(record["error"]) or None, json.loads(str(record["files"])))  # fmt: skip


def process_rows(generator, destination: Destination, rows: Sequence[Row], batch: int | str = 1,
                 on_status: Callable[[RowStatus], None] | None = None) -> list[RowStatus]:  # fmt: skip
    """Make and write the results of ``rows`` with ``generator`` (a Ganorama): rows whose
    result is complete in ``destination`` are skipped (a retried task finds the rows its
    killed predecessor wrote); leftovers of an unfinished write are removed first. Rows
    sharing a canvas run ``batch`` per forward. A row that fails is reported, not raised."""
    statuses: list[RowStatus] = []

    def report(status: RowStatus) -> None:
        statuses.append(status)
        if on_status is not None:
            on_status(status)

    todo = []
    for row in rows:
        if recorded_request(destination.read_text(row.sidecar_name)) is not None:
            report(RowStatus(row.index, row.name, row.where, "skipped"))
        else:
            todo.append(row)
    for group in _groups(todo, generator, batch):
        for status in _make_group(generator, destination, group, batch):
            report(status)
    return statuses


def _groups(rows: list[Row], generator, batch) -> Iterator[list[Row]]:
    """Runs of consecutive rows that ``run_many`` would put in one forward; a row that
    cannot be planned is a group of its own (it fails alone)."""
    from ganorama.pipeline import batch_key, batch_limit, forward_groups

    def key_and_limit(row: Row) -> tuple:
        try:
            plan = generator.plan(row.request)
            return batch_key(plan), batch_limit(plan, batch)
        except Exception:  # noqa: BLE001 - reported when the row runs
            return object(), 1

    return forward_groups(rows, key_and_limit)


def _make_group(generator, destination: Destination, rows: list[Row], batch) -> Iterator[RowStatus]:
    """Generate a group in one forward and write each result; if the forward fails, run
    the rows one by one so that only the bad row fails."""
    try:
        results = list(generator.run_many([row.request for row in rows], batch=batch))
    except Exception as error:  # noqa: BLE001 - one row's fault must not stop the others
        if len(rows) == 1:
            yield _failed(rows[0], error)
            return
        for row in rows:
            yield from _make_group(generator, destination, [row], 1)
        return
    for row, result in zip(rows, results):
        yield _write(destination, row, result)


def _write(destination: Destination, row: Row, result) -> RowStatus:
    try:
        for name in row.file_names().values():  # an unfinished write by a killed worker
            destination.remove(name)
        files = destination.save(result, row)
    except Exception as error:  # noqa: BLE001
        return _failed(row, error)
    return RowStatus(row.index, row.name, row.where, "done", files=files)


def _failed(row: Row | None, error: BaseException) -> RowStatus:
    """A failed status with the error's first line (its type too unless it is ours)."""
    text = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
    if not isinstance(error, GanoramaError):
        text = f"{type(error).__name__}: {text}"
    if row is None:
        return RowStatus(-1, "", "", "failed", error=text[:500])
    return RowStatus(row.index, row.name, row.where, "failed", error=text[:500])


# --- Ray ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """The model every worker loads: a published name or ``weights`` (a path or
    hf:OWNER/REPO), on ``device`` ("auto", "cpu", "cuda") with ``dtype``."""

    model: str = "biggan-deep-256"
    weights: str | None = None
    device: str = "auto"
    dtype: str = "auto"


def require_ray():
    """Import Ray Data, or UsageError with the install command (one line)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        missing = getattr(error, "name", None)
        reason = "" if missing in ("ray", "ray.data") else f" ({str(error).splitlines()[0]})"
        raise UsageError(f"ganorama batch needs Ray: {INSTALL_HINT}{reason}") from None
    return ray


class _RowWorker:
    """A Ray Data worker: loads the model once, then makes and writes batches of rows."""

    def __init__(self, out: str, model: ModelChoice, batch, threads: int | None):
        import torch

        from ganorama.devices import tune_cpu_allocator
        from ganorama.pipeline import Ganorama

        tune_cpu_allocator()
        if threads:
            torch.set_num_threads(threads)
        self.destination = Destination(out)
        self.batch = batch
        self.generator = None
        self.load_error = None
        try:
            self.generator = Ganorama.from_pretrained(model.model, weights=model.weights, device=model.device,
                                                      dtype=model.dtype)  # fmt: skip
        except Exception as error:  # noqa: BLE001 - reported with each row, not as a dead actor's traceback
            self.load_error = f"the worker could not load the model: {_failed(None, error).error}"

    def __call__(self, records: Mapping[str, Sequence]) -> dict[str, list]:
        count = len(records["index"])
        rows, statuses = [], []
        for position in range(count):
            record = {key: records[key][position] for key in records}
            try:
                if self.load_error:
                    raise GanoramaError(self.load_error)
                rows.append(Row.from_record(record))
            except GanoramaError as error:  # no model, or a row this worker's ganorama reads otherwise
                statuses.append(RowStatus(int(record["index"]), str(record["name"]), str(record["where"]),
                                          "failed", error=str(error)))  # fmt: skip
        if rows:
            statuses += process_rows(self.generator, self.destination, rows, self.batch)
        columns = [status.to_record() for status in statuses]
        return {key: [column[key] for column in columns] for key in RowStatus(0, "", "", "").to_record()}


@dataclass
class RayPlan:
    """How the rows are spread: ``workers`` actors on ``device``, each with ``cpus`` CPUs
    and ``gpus`` GPUs, taking ``rows_per_task`` rows at a time."""

    device: str
    workers: int
    cpus: float
    gpus: float
    rows_per_task: int


def local_cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def start_ray(address: str | None = None, cpus: int | None = None, gpus: int | None = None):
    """Join the cluster at ``address`` ("auto", "HOST:PORT", "ray://HOST:PORT"), or start
    a local Ray on this machine's cores and GPUs; quiet (errors reach the user through
    the rows' statuses). Returns the ray module."""
    import logging

    ray = require_ray()
    if ray.is_initialized():
        return ray
    common = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    # Ray's C++ core logs a warning to this process's stderr for every Ray Data actor pool
    # (its constructor arguments live in the object store). Its processes log to files
    # anyway; the core announces the level it reads on stderr when ray.init starts it.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    if address:
        _check_reachable(address)
    try:
        with _stderr_silenced():
            if address:
                ray.init(address=address, **common)
            else:
                ray.init(num_cpus=cpus or local_cpu_count(), num_gpus=gpus, include_dashboard=False, **common)
    except Exception as error:  # noqa: BLE001 - Ray's start-up faults, as one line
        what = f"cannot reach the Ray cluster at {address}" if address else "cannot start a local Ray"
        raise GanoramaError(f"{what}: {_root_cause(error) if str(error).strip() else type(error).__name__}") from None
    _quiet_ray_data()
    return ray


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """GanoramaError at once if nothing listens at a HOST:PORT address (Ray itself keeps
    retrying for minutes); "auto" and ray:// addresses are left to Ray."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise GanoramaError(f"cannot reach the Ray cluster at {address}: {reason}; start one with "
                            "`ray start --head` or leave out --address to run here") from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block: what Ray's C++ code and the
    processes ray.init starts write there bypasses Python. Failures still arrive as
    exceptions, and those processes keep their log files."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_ray_data() -> None:
    import logging

    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    for name in ("print_on_execution_start", "verbose_stats_logs", "enable_auto_log_stats"):
        if hasattr(context, name):
            setattr(context, name, False)
    # Ray Data logs a failed run's whole stack; the rows' statuses and summary.json carry
    # what the user needs (the failing row, its one-line error).
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


def ray_plan(ray, device: str, workers: int | None, batch, rows: int) -> RayPlan:
    """Workers and their resources: one per GPU on CUDA, else CPU workers sharing the
    cluster's cores (one by default: a forward already uses every core it is given)."""
    resources = ray.cluster_resources()
    total_cpus = max(1, int(resources.get("CPU", 1)))
    total_gpus = int(resources.get("GPU", 0))
    if device == AUTO:  # the cluster's GPUs if it has any (a driver without one may join it)
        device = "cuda" if total_gpus else "cpu"
    if device.startswith("cuda"):
        if total_gpus < 1:
            raise UsageError("--device cuda but the Ray cluster has no GPUs; use --device cpu")
        workers = workers or total_gpus
        cpus = 1.0
        gpus = 1.0
    else:
        workers = workers or 1
        cpus = float(max(1, total_cpus // workers))
        gpus = 0.0
    from ganorama.pipeline import MAX_AUTO_BATCH

    # A task's rows are the groups run_many may form (so their forwards match a single
    # run's with the same --batch); rows finished in it are written at once regardless.
    rows_per_task = batch if isinstance(batch, int) else MAX_AUTO_BATCH
    return RayPlan(device, max(1, min(workers, rows)), cpus, gpus, max(1, rows_per_task))


def run_on_ray(ray, rows: Sequence[Row], destination: Destination, model: ModelChoice, batch, plan: RayPlan
               ) -> Iterator[RowStatus]:  # fmt: skip
    """Run ``rows`` on Ray Data, yielding each row's status as workers finish it."""
    import ray.data

    dataset = ray.data.from_items([row.to_record() for row in rows],
                                  override_num_blocks=max(1, math.ceil(len(rows) / plan.rows_per_task)))  # fmt: skip
    threads = None if plan.gpus else int(plan.cpus)
    model = replace(model, device=plan.device)
    statuses = dataset.map_batches(
        _RowWorker,
        fn_constructor_kwargs=dict(out=destination.url, model=model, batch=batch, threads=threads),
        batch_size=plan.rows_per_task,
        compute=ray.data.ActorPoolStrategy(size=plan.workers),
        num_cpus=plan.cpus,
        num_gpus=plan.gpus,
        batch_format="numpy",
        # Ray Data calls the worker from a thread of its own; with glibc's per-thread
        # arenas that thread's large blocks would all be fresh mmaps (measured: 2.0 s ->
        # 1.25 s a panorama at 128). One arena, set before the worker process starts.
        runtime_env={"env_vars": {"MALLOC_ARENA_MAX": "1"}},
        **_retry_limit(),
    )
    for record in statuses.iter_rows():
        yield RowStatus.from_record(record)


def _retry_limit() -> dict:
    """``max_task_retries`` for map_batches while Ray takes it (Ray Data's own default
    retries a task whose worker died forever, so a row that kills every worker, e.g. out
    of memory, would never end the run). Ray 2.60 announces its removal for 2.64."""
    import inspect
    import warnings

    import ray.data

    parameters = inspect.signature(ray.data.Dataset.map_batches).parameters.values()
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return {}
    warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated", module="ganorama")
    warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated", module="ray")
    return {"max_task_retries": TASK_RETRIES}


def _root_cause(error: BaseException) -> str:
    """One line from a Ray error, whose text is a remote traceback: its last line, which
    names the exception that ended the worker (our own errors by their message alone)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = lines[-1] if lines else type(error).__name__
    return re.sub(r"^ganorama\.errors\.\w+: ", "", last)[:300]


# --- the whole run -----------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """A run's outcome, as summary.json records it."""

    total: int
    done: list[RowStatus] = field(default_factory=list)
    skipped: list[RowStatus] = field(default_factory=list)
    failed: list[RowStatus] = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0

    @property
    def results_per_second(self) -> float:
        return len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def add(self, status: RowStatus) -> None:
        {"done": self.done, "skipped": self.skipped, "failed": self.failed}[status.status].append(status)

    def to_dict(self) -> dict:
        def entry(status: RowStatus) -> dict:
            values = {"row": status.index, "name": status.name, "where": status.where}
            if status.error:
                values["error"] = status.error
            if status.files:
                values["files"] = status.files
            return values

        return {"rows": self.total, "counts": {"done": len(self.done), "skipped": len(self.skipped),
                                               "failed": len(self.failed)},
                "seconds": round(self.seconds, 3), "ray_startup_seconds": round(self.startup_seconds, 3),
                "results_per_second": round(self.results_per_second, 4),
                **{name: [entry(s) for s in sorted(getattr(self, name), key=lambda s: s.index)]
                   for name in ("done", "skipped", "failed")}}  # fmt: skip


def run_batch(rows: Sequence[Row], out: str | Destination, model: ModelChoice = ModelChoice(), batch: int | str = 1,
              workers: int | None = None, address: str | None = None,
              on_status: Callable[[RowStatus], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> BatchSummary:  # fmt: skip
    """Make every row of ``rows`` not done yet in ``out`` on Ray (local unless
    ``address``), write summary.json there and return the summary. ``on_start(to_make,
    already_done)`` is called once Ray is up; ``on_status`` per finished row. Rows should
    be checked first (:func:`check_rows_with_model`); a row that fails is recorded, not
    raised."""
    destination = out if isinstance(out, Destination) else Destination(out)
    destination.check()
    plan = plan_rows(rows, destination)
    summary = BatchSummary(total=len(rows))
    for row in plan.done:
        summary.add(RowStatus(row.index, row.name, row.where, "skipped"))
    started = time.perf_counter()
    ray = None
    try:
        if plan.todo:
            ray = require_ray()
            owns_ray = not ray.is_initialized()
            start_ray(address)  # before OUT is made: a cluster that is not there leaves nothing
            summary.startup_seconds = time.perf_counter() - started
        destination.prepare()
        destination.remove_temporaries()  # a killed run's: none of its writers runs now
        if plan.todo:
            layout = ray_plan(ray, model.device, workers, batch, len(plan.todo))
            if on_start is not None:
                on_start(len(plan.todo), len(plan.done))
            seen: set[int] = set()
            try:
                for status in run_on_ray(ray, plan.todo, destination, model, batch, layout):
                    if status.index in seen:
                        continue  # a retried task's record for a row already counted
                    seen.add(status.index)
                    if status.status == "skipped":
                        # Rows done before this run were left out above, so a worker that finds
                        # one complete is a retried task meeting what its killed predecessor wrote.
                        status.status = "done"
                    summary.add(status)
                    if on_status is not None:
                        on_status(status)
            except Exception as error:  # noqa: BLE001 - workers that cannot start or keep dying
                reason = f"not made: the Ray workers failed ({_root_cause(error)}); rerun to retry"
                for row in plan.todo:
                    if row.index not in seen:
                        summary.add(RowStatus(row.index, row.name, row.where, "failed", error=reason))
    finally:
        summary.seconds = time.perf_counter() - started
        if ray is not None and owns_ray:
            ray.shutdown()  # stops the workers: nothing writes into OUT any more
        destination.remove_temporaries()
    destination.write_summary(summary.to_dict())
    return summary
