"""One worker's work: make rows' results and write each one as soon as it is made.

:func:`process_rows` (usable and tested without Ray) skips rows whose result is complete,
groups consecutive rows that share a canvas into one forward of ``run_many`` and writes
every result through a :class:`~ganorama.destinations.Destination`; a row that fails is a
:class:`RowStatus` with its one-line error, never an exception. :class:`_RowWorker` is
the Ray Data worker around it: it loads the :class:`WorkerModel` once. A video row comes
as tasks of frame ranges: :func:`process_frames` makes one range's missing frames.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

from ganorama.batch.jobs import Row, record_frames
from ganorama.batch.resume import missing_frames, recorded_request
from ganorama.destinations import Destination
from ganorama.errors import GanoramaError
from ganorama.models.choice import ModelChoice


@dataclass(frozen=True)
class WorkerModel:
    """The model every worker loads: ``choice`` (a published name or ``weights``, a path
    or hf:OWNER/REPO) on ``device`` ("auto", "cpu", "cuda") with ``dtype``: small frozen
    values, pickled to every Ray worker (which resolves "auto" itself)."""

    choice: ModelChoice = field(default_factory=ModelChoice)
    device: str = "auto"
    dtype: str = "auto"


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
    scores: dict = field(default_factory=dict)  # ganorama.scores of a panorama made now, when asked
    # A video row's task: {"frames": [start, stop], "made": count, "sidecar": {...}} (the
    # sidecar from the worker's resolved model, for the video's JSON); empty otherwise.
    video: dict = field(default_factory=dict)

    def to_record(self) -> dict:
        return {"index": self.index, "name": self.name, "where": self.where, "status": self.status,
                "error": self.error or "", "files": json.dumps(self.files), "scores": json.dumps(self.scores),
                "video": json.dumps(self.video)}  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping) -> "RowStatus":
        return cls(int(record["index"]), str(record["name"]), str(record["where"]), str(record["status"]),
                   str(record["error"]) or None, json.loads(str(record["files"])),
                   json.loads(str(record.get("scores") or "{}")), json.loads(str(record.get("video") or "{}")))  # fmt: skip


def process_rows(generator, destination: Destination, rows: Sequence[Row], batch: int | str = 1,
                 on_status: Callable[[RowStatus], None] | None = None, scores: bool = False) -> list[RowStatus]:  # fmt: skip
    """Make and write the results of ``rows`` with ``generator`` (a Ganorama): rows whose
    result is complete in ``destination`` are skipped (a retried task finds the rows its
    killed predecessor wrote); leftovers of an unfinished write are removed first. Rows
    sharing a canvas run ``batch`` per forward. A row that fails is reported, not raised.
    With ``scores``, a panorama's status carries its :mod:`ganorama.scores`."""
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
        for status in _make_group(generator, destination, group, batch, scores):
            report(status)
    return statuses


def process_frames(generator, destination: Destination, row: Row, frames: range, batch: int | str = 1,
                   on_frame: Callable[[int], None] | None = None) -> RowStatus:  # fmt: skip
    """Make the ``frames`` of video row ``row`` that its frames folder in ``destination``
    lacks (a retried task finds what its killed predecessor wrote), writing each as soon
    as it is made (atomically, ``on_frame(index)`` then); ``batch`` frames per forward.
    The status carries the video's sidecar as this worker's model makes it (an empty
    range only asks for that). A failure is reported, not raised."""
    from ganorama.export.frames import animation_sidecar, frame_name, frame_png_bytes

    video = {"frames": [frames.start, frames.stop]}
    made = 0
    try:
        plan = generator.plan(row.request)
        for index, result in generator.animate(plan, row.walk, missing_frames(destination, row, frames), batch):
            destination.write_bytes(f"{row.frames_folder}/{frame_name(index)}", frame_png_bytes(result.to_pil()))
            made += 1
            if on_frame is not None:
                on_frame(index)
        sidecar = animation_sidecar(row.walk, plan, generator)
    except Exception as error:  # noqa: BLE001 - one range's fault must not stop the others
        status = failed_status(row, error)
        status.error = f"frames {frames.start} to {frames.stop - 1}: {status.error}"
        status.video = {**video, "made": made}
        return status
    return RowStatus(row.index, row.name, row.where, "done", video={**video, "made": made, "sidecar": sidecar})


def _groups(rows: list[Row], generator, batch) -> Iterator[list[tuple[Row, object]]]:
    """Runs of consecutive (row, plan) that ``run_many`` would put in one forward; a row
    that cannot be planned is a group of its own with its error as its plan (it fails alone)."""
    from ganorama.planning import runs_of

    def planned(row: Row) -> tuple[Row, object]:
        try:
            return row, generator.plan(row.request)
        except Exception as error:  # noqa: BLE001 - reported when the row runs
            return row, error

    def key_and_limit(item: tuple[Row, object]) -> tuple:
        plan = item[1]
        if isinstance(plan, Exception):
            return object(), 1
        return plan.key(), plan.group_limit(batch)

    return runs_of((planned(row) for row in rows), key_and_limit)


def _make_group(generator, destination: Destination, group: list[tuple[Row, object]], batch,
                scores: bool = False) -> Iterator[RowStatus]:  # fmt: skip
    """Generate a group in one forward and write each result; if the forward fails, run
    the rows one by one so that only the bad row fails."""
    rows = [row for row, _ in group]
    try:
        for _, plan in group:
            if isinstance(plan, Exception):
                raise plan
        results = list(generator.run_many([plan for _, plan in group], batch=batch))
    except Exception as error:  # noqa: BLE001 - one row's fault must not stop the others
        if len(rows) == 1:
            yield failed_status(rows[0], error)
            return
        for item in group:
            yield from _make_group(generator, destination, [item], 1, scores)
        return
    for row, result in zip(rows, results):
        yield _write(destination, row, result, scores)


def _write(destination: Destination, row: Row, result, scores: bool = False) -> RowStatus:
    try:
        for name in row.file_names().values():  # an unfinished write by a killed worker
            destination.remove(name)
        files = destination.save(result, row.name, row.request.format)
    except Exception as error:  # noqa: BLE001
        return failed_status(row, error)
    return RowStatus(row.index, row.name, row.where, "done", files=files, scores=_scores(result) if scores else {})


def _scores(result) -> dict:
    """A panorama's seam and pole scores; other kinds (flat images) have none."""
    if result.canvas.projection != "equirectangular":
        return {}
    from ganorama.scores import score_panorama

    return score_panorama(result.image).to_dict()


def unseen_result(destination: Destination) -> str:
    """Why a row a worker reports written is not counted done."""
    return (f"a worker wrote it but {destination.url} does not hold it as seen from here: the workers and this "
            "machine do not share OUT (a local path on a cluster?); use a shared file system or a URL like s3://")


def failed_status(row: Row | None, error: BaseException) -> RowStatus:
    """A failed status with the error's first line (its type too unless it is ours)."""
    text = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
    if not isinstance(error, GanoramaError):
        text = f"{type(error).__name__}: {text}"
    if row is None:
        return RowStatus(-1, "", "", "failed", error=text[:500])
    return RowStatus(row.index, row.name, row.where, "failed", error=text[:500])


class _RowWorker:
    """A Ray Data worker: loads the model once, then makes and writes batches of rows."""

    def __init__(self, out: str, model: WorkerModel, batch, threads: int | None, scores: bool = False,
                 progress=None):  # fmt: skip
        import torch

        from ganorama.devices import tune_cpu_allocator
        from ganorama.pipeline import Ganorama

        tune_cpu_allocator()
        if threads:
            torch.set_num_threads(threads)
        self.destination = Destination(out)
        self.batch = batch
        self.scores = scores
        # A Ray queue the driver reads to move its bar as each row is written, not as each
        # task ends (with --batch auto a task is many rows).
        self.progress = progress
        self.generator = None
        self.load_error = None
        try:
            self.generator = Ganorama.from_pretrained(model.choice.name, weights=model.choice.weights, device=model.device,
                                                      dtype=model.dtype)  # fmt: skip
        except Exception as error:  # noqa: BLE001 - reported with each row, not as a dead actor's traceback
            self.load_error = f"the worker could not load the model: {failed_status(None, error).error}"

    def __call__(self, records: Mapping[str, Sequence]) -> dict[str, list]:
        count = len(records["index"])
        rows, videos, statuses = [], [], []
        for position in range(count):
            record = {key: records[key][position] for key in records}
            frames = record_frames(record)
            try:
                if self.load_error:
                    raise GanoramaError(self.load_error)
                row = Row.from_record(record)
                if frames is None:
                    rows.append(row)
                else:
                    videos.append((row, frames))
            except GanoramaError as error:  # no model, or a row this worker's ganorama reads otherwise
                video = {"frames": [frames.start, frames.stop]} if frames is not None else {}
                statuses.append(RowStatus(int(record["index"]), str(record["name"]), str(record["where"]),
                                          "failed", error=str(error), video=video))  # fmt: skip
        if rows:
            statuses += process_rows(self.generator, self.destination, rows, self.batch, scores=self.scores,
                                     on_status=self._announce)  # fmt: skip
        for row, frames in videos:
            statuses.append(process_frames(self.generator, self.destination, row, frames, self.batch,
                                           on_frame=lambda index, row=row: self._put([row.index, index])))  # fmt: skip
        columns = [status.to_record() for status in statuses]
        return {key: [column[key] for column in columns] for key in RowStatus(0, "", "", "").to_record()}

    def _announce(self, status: RowStatus) -> None:
        self._put(status.index)

    def _put(self, key) -> None:
        """Tell the driver a row (its index) or a video's frame ([index, frame]) is written."""
        if self.progress is not None:
            self.progress.put_nowait(key)
