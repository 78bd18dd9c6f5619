"""A job's 360 videos: an ``animate`` row is made as ranges of frames, one Ray task each,
then encoded by the driver.

- the tasks that make a video's missing frames: :func:`ganorama.walks.frame_ranges`, of
  :func:`ganorama.walks.default_frames_per_task` frames unless ``--frames_per_task`` says.
- :func:`prepare_frames`: the video's frames folder ``OUT/ID.frames`` (the layout of
  ``ganorama animate --frames_dir``: ``000000.png``... and ``walk.json``), before the run.
- :class:`VideoAssembly`: each video's ranges counted as their tasks return; when the
  last is in and every frame is there, :func:`encode_video` writes ``OUT/ID.mp4`` (read
  back one frame at a time, never all at once) and then ``OUT/ID.json``.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ganorama.batch.jobs import Row
from ganorama.batch.resume import missing_frames
from ganorama.batch.worker import RowStatus, failed_status, unseen_result
from ganorama.destinations import Destination
from ganorama.export.frames import WALK_FILE, frame_name, frames_recipe
from ganorama.walks import default_frames_per_task, frame_ranges

def videos_disk_bytes(rows: Sequence[Row], destination: Destination, planner) -> int:
    """Disk space the video rows among ``rows`` still need in OUT: their missing frames and
    their videos (upper estimates), at the sizes ``planner`` gives their requests."""
    from ganorama.export.frames import frames_disk_bytes, video_disk_bytes

    needed = 0
    for row in rows:
        if row.walk is None:
            continue
        plan = planner.plan(row.request)
        pixels = plan.width * plan.height
        needed += frames_disk_bytes(len(missing_frames(destination, row)), pixels)
        needed += video_disk_bytes(row.walk.frames, pixels)
    return needed


def prepare_frames(destination: Destination, row: Row) -> None:
    """The video's frames folder, ready for the workers: created, a killed writer's
    temporaries removed, its walk recorded (checked against the row before the run by
    :func:`ganorama.batch.resume.plan_rows`)."""
    destination.make_folder(row.frames_folder)
    destination.remove_temporaries(row.frames_folder)
    if destination.read_text(f"{row.frames_folder}/{WALK_FILE}") is None:
        text = json.dumps(frames_recipe(row.walk, row.request), indent=2)
        destination.write_bytes(f"{row.frames_folder}/{WALK_FILE}", text.encode("utf-8"))


def encode_video(destination: Destination, row: Row, sidecar: dict) -> list[str]:
    """``OUT/ID.mp4`` from the frames folder (a 360 H.264 MP4 with spherical metadata, as
    ``ganorama animate`` writes it), then its sidecar ``OUT/ID.json``; their names or URLs.
    An unfinished video of a killed run (an mp4 without its sidecar) is made again."""
    from ganorama.errors import GanoramaError
    from ganorama.export.animation import encode_360_video

    missing = missing_frames(destination, row)
    if missing:
        raise GanoramaError(f"{len(missing)} of {row.walk.frames} frames are missing (frame {missing[0]} first) in "
                            f"{destination.display(row.frames_folder)}; rerun to make them")  # fmt: skip
    destination.remove(row.image_name)
    video = destination.write_file(row.image_name,
                                   lambda temp: encode_360_video(_frames(destination, row), temp, row.walk.fps))  # fmt: skip
    return [video, destination.write_json(row.sidecar_name, sidecar)]


def _frames(destination: Destination, row: Row) -> Iterator:
    """The video's frames in order, each read from OUT only when the encoder wants it."""
    from PIL import Image

    for index in range(row.walk.frames):
        with Image.open(io.BytesIO(destination.read_bytes(f"{row.frames_folder}/{frame_name(index)}"))) as image:
            yield image.convert("RGB")


@dataclass
class _Video:
    row: Row
    pending: set[int]  # the first frame of each range not yet returned
    sidecar: dict | None = None
    errors: list[str] = field(default_factory=list)


class VideoAssembly:
    """The videos of a run as their ranges come back: :meth:`tasks` to run, :meth:`add`
    for each range's status (the video's own status once its last range is in and it
    is encoded), :meth:`unfinished` for the videos whose ranges never came back."""

    def __init__(self, destination: Destination, rows: Sequence[Row], frames_per_task: int | None, workers: int):
        self.destination = destination
        self._tasks: list[tuple[Row, range]] = []
        self._videos: dict[int, _Video] = {}
        for row in rows:
            missing = missing_frames(destination, row)
            per_task = frames_per_task or default_frames_per_task(row.walk.frames, workers)
            # With every frame there, one empty range asks a worker for the sidecar (its model's).
            ranges = frame_ranges(missing, per_task) or [range(0, 0)]
            self._tasks += [(row, frames) for frames in ranges]
            self._videos[row.index] = _Video(row, {frames.start for frames in ranges})

    def tasks(self) -> list[tuple[Row, range]]:
        return list(self._tasks)

    def frames_to_make(self) -> int:
        return sum(len(frames) for _, frames in self._tasks)

    def add(self, status: RowStatus) -> RowStatus | None:
        """Count a range's status (a retried task's second one is ignored); the video's
        status when this was its last range, encoded now unless a range failed."""
        video = self._videos[status.index]
        start = status.video.get("frames", [None])[0]
        if start not in video.pending:
            return None
        video.pending.discard(start)
        if status.status == "failed":
            video.errors.append(status.error or "failed")
        elif video.sidecar is None:
            video.sidecar = status.video.get("sidecar")
        if video.pending:
            return None
        return self._finish(video)

    def unfinished(self, reason: str) -> list[RowStatus]:
        """Failed statuses for the videos with ranges that never came back."""
        return [RowStatus(video.row.index, video.row.name, video.row.where, "failed", error=reason)
                for video in self._videos.values() if video.pending]  # fmt: skip

    def _finish(self, video: _Video) -> RowStatus:
        row = video.row
        if video.errors:
            more = f" (and {len(video.errors) - 1} more failed ranges)" if len(video.errors) > 1 else ""
            return RowStatus(row.index, row.name, row.where, "failed", error=f"not encoded: {video.errors[0]}{more}")
        if missing_frames(self.destination, row):  # every range reported its frames written
            return RowStatus(row.index, row.name, row.where, "failed", error=unseen_result(self.destination))
        try:
            files = encode_video(self.destination, row, video.sidecar)
        except Exception as error:  # noqa: BLE001 - one video's fault must not stop the others
            return failed_status(row, error)
        return RowStatus(row.index, row.name, row.where, "done", files=files, video={"frames": row.walk.frames})
