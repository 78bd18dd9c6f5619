"""What is done already: a rerun of a job skips the rows whose complete sidecar in OUT
records the row's request, and refuses (before anything runs) a sidecar that records
another one: the job changed since that result was made. A video row is done when its
mp4 and its sidecar (recording the row's walk and request) are there; its frames folder
must hold the frames of the same walk."""
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
        if row.walk is not None:
            (done if _video_done(row, destination, present) else todo).append(row)
            continue
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


def missing_frames(destination: Destination, row: Row, frames: range | None = None) -> list[int]:
    """The frames of video row ``row`` (all, or those of ``frames``) not yet in its frames
    folder."""
    from ganorama.export.frames import frame_name

    present = destination.names(row.frames_folder)
    indices = range(row.walk.frames) if frames is None else frames
    return [index for index in indices if frame_name(index) not in present]


def _video_done(row: Row, destination: Destination, present: set[str]) -> bool:
    """Whether video row ``row`` is complete in OUT; UsageError if what OUT holds for it
    belongs to another walk or request (the job changed)."""
    from ganorama.export.frames import WALK_FILE, frames_recipe

    def changed(what: str) -> UsageError:
        return UsageError(f"{row.where}: {destination.display(what)} holds another walk or request; the job changed "
                          "since it was made: choose another OUT or remove it")  # fmt: skip

    if row.sidecar_name in present:
        recorded = _recorded_animation(destination.read_text(row.sidecar_name))
        if recorded is None:
            raise UsageError(f"{row.where}: {destination.display(row.sidecar_name)} exists but is not a complete "
                             "ganorama video sidecar; remove it or choose another OUT")  # fmt: skip
        walk, request = recorded
        if walk != row.walk.to_dict() or request_differences(row.request, request):
            raise changed(row.sidecar_name)
        if row.image_name not in present:
            raise UsageError(f"{row.where}: {destination.display(row.sidecar_name)} exists without its video "
                             f"{row.image_name}; remove the sidecar to make the video again")  # fmt: skip
        return True
    if row.frames_folder in present:
        recipe = destination.read_text(f"{row.frames_folder}/{WALK_FILE}")
        if recipe is None:
            if any(name.endswith(".png") for name in destination.names(row.frames_folder)):
                raise UsageError(f"{row.where}: {destination.display(row.frames_folder)} holds frames without a "
                                 f"{WALK_FILE}; remove it or choose another OUT")  # fmt: skip
        elif _json_or_none(recipe) != frames_recipe(row.walk, row.request):
            raise changed(row.frames_folder)
    return False


def _recorded_animation(text: str | None) -> tuple[dict, Request] | None:
    """The walk (as recorded) and request a video's sidecar holds, None if it is not one."""
    values = _json_or_none(text)
    from ganorama.export.frames import ANIMATION_KIND

    if not isinstance(values, dict) or values.get("kind") != ANIMATION_KIND or not isinstance(values.get("walk"), dict):
        return None
    try:
        return values["walk"], Request.from_dict(values.get("request"))
    except (UsageError, TypeError):
        return None


def _json_or_none(text: str | None):
    import json

    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
