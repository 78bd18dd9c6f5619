"""What is done already: a rerun of a job skips the rows whose complete sidecar in OUT
records the row's request, and refuses (before anything runs) a sidecar that records
another one: the job changed since that result was made."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ganorama.batch.jobs import Row
from ganorama.destinations import Destination
from ganorama.errors import UsageError
from ganorama.request import AUTO, Request


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
