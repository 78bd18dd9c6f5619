"""The whole run: :func:`run_batch` plans what is left to make, starts Ray, runs the rows
(a video row as ranges of frames, encoded here when its last range is in), counts each
row once (a retried task reports its rows again) and writes summary.json (summary-N.json
when rerun: none is replaced), the :class:`BatchSummary`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from ganorama.batch.cluster import _root_cause, ray_plan, require_ray, rows_finished_feed, run_on_ray, start_ray
from ganorama.batch.jobs import SUMMARY_NAME, Row, summary_name
from ganorama.batch.resume import plan_rows
from ganorama.batch.videos import VideoAssembly, prepare_frames
from ganorama.batch.worker import RowStatus, WorkerModel, unseen_result
from ganorama.destinations import Destination


@dataclass
class BatchSummary:
    """A run's outcome, as summary.json records it."""

    total: int
    done: list[RowStatus] = field(default_factory=list)
    skipped: list[RowStatus] = field(default_factory=list)
    failed: list[RowStatus] = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0
    summary_name: str = SUMMARY_NAME  # where in OUT it was written: a rerun's takes a new name

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
            if status.scores:
                values["scores"] = status.scores
            return values

        return {"rows": self.total, "counts": {"done": len(self.done), "skipped": len(self.skipped),
                                               "failed": len(self.failed)},
                "seconds": round(self.seconds, 3), "ray_startup_seconds": round(self.startup_seconds, 3),
                "results_per_second": round(self.results_per_second, 4),
                **{name: [entry(s) for s in sorted(getattr(self, name), key=lambda s: s.index)]
                   for name in ("done", "skipped", "failed")}}  # fmt: skip


def run_batch(rows: Sequence[Row], out: str | Destination, model: WorkerModel = WorkerModel(),
              batch: int | str = 1, workers: int | None = None, address: str | None = None,
              on_status: Callable[[RowStatus], None] | None = None,
              on_start: Callable[[int, int], None] | None = None,
              on_row_finished: Callable[[object], None] | None = None, scores: bool = False,
              frames_per_task: int | None = None) -> BatchSummary:  # fmt: skip
    """Make every row of ``rows`` not done yet in ``out`` on Ray (local unless
    ``address``), write summary.json there and return the summary. A video row (kind
    animate) is spread over the workers as ranges of ``frames_per_task`` frames (default:
    :func:`~ganorama.walks.default_frames_per_task`), then encoded here.
    ``on_start(to_make, already_done)`` is called once Ray is up, counting results and
    video frames; ``on_status`` per row as its task returns it (a video's once it is
    encoded); ``on_row_finished(key)``, from another thread, as soon as a worker has
    finished a row (key: its index) or a video's frame (``[index, frame]``). Rows should
    be checked first (:func:`check_rows_with_model`); a row that fails is recorded, not
    raised. With ``scores``, each panorama made now has its :mod:`ganorama.scores` in
    summary.json."""
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
            images = [row for row in plan.todo if row.walk is None]
            video_rows = [row for row in plan.todo if row.walk is not None]
            for row in video_rows:
                prepare_frames(destination, row)
            # The workers for at most one task per image and frame; then as many as there are tasks.
            layout = ray_plan(ray, model.device, workers, batch, sum(row.units for row in plan.todo))
            videos = VideoAssembly(destination, video_rows, frames_per_task, layout.workers)
            tasks = [(row, None) for row in images] + videos.tasks()
            layout = replace(layout, workers=min(layout.workers, len(tasks)))
            if on_start is not None:
                to_make = len(images) + videos.frames_to_make()
                on_start(to_make, sum(row.units for row in rows) - to_make)
            seen: set[int] = set()
            sidecars = {row.index: row.sidecar_name for row in images}
            try:
                with rows_finished_feed(on_row_finished) as feed:
                    for status in run_on_ray(ray, tasks, destination, model, batch, layout, scores=scores,
                                             progress=feed):
                        if status.video:
                            status = videos.add(status)
                            if status is None:
                                continue  # a range of a video still being made
                        if status.index in seen:
                            continue  # a retried task's record for a row already counted
                        seen.add(status.index)
                        if status.status == "skipped":
                            # Rows done before this run were left out above, so a worker that finds
                            # one complete is a retried task meeting what its killed predecessor wrote.
                            status.status = "done"
                        if status.status == "done" and status.index in sidecars and \
                                not destination.has(sidecars[status.index]):
                            status.status, status.error = "failed", unseen_result(destination)
                        summary.add(status)
                        if on_status is not None:
                            on_status(status)
            except Exception as error:  # noqa: BLE001 - workers that cannot start or keep dying
                reason = f"not made: the Ray workers failed ({_root_cause(error)}); rerun to retry"
                for row in images:
                    if row.index not in seen:
                        summary.add(RowStatus(row.index, row.name, row.where, "failed", error=reason))
                for status in videos.unfinished(reason):
                    summary.add(status)
    finally:
        summary.seconds = time.perf_counter() - started
        if ray is not None and owns_ray:
            ray.shutdown()  # stops the workers: nothing writes into OUT any more
        destination.remove_temporaries()
    summary.summary_name = summary_name(destination.names())
    destination.write_json(summary.summary_name, summary.to_dict())
    return summary
