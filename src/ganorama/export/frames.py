"""An animation's files: the video and its sidecar, and the numbered frames a render
keeps (and resumes from).

- :func:`animation_paths` (output) -> (video, sidecar): checked new and writable.
- :class:`FrameStore`: ``DIR/000000.png``... written atomically as each frame is made,
  with ``DIR/walk.json`` saying which walk they belong to; a rerun of the same walk
  makes only the frames not yet there.
- :func:`write_sidecar`: the JSON that makes the video again.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from ganorama import __version__
from ganorama.errors import UsageError
from ganorama.export.animation import MP4_BYTES_PER_PIXEL, require_imageio_ffmpeg
from ganorama.export.paths import check_output_file
from ganorama.files import check_name_lengths, remove_stale_temporaries, write_bytes_atomic
from ganorama.formats import open_image

WALK_FILE = "walk.json"
# The kind a video's sidecar records: ganorama reproduce makes the video again from it.
ANIMATION_KIND = "animation"


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


def frames_recipe(walk, request) -> dict:
    """What ``DIR/walk.json`` records: the walk and the request every frame shares. Frames
    are resumed only into a directory that records the same."""
    return {"walk": walk.to_dict(), "request": request.to_dict()}


def frame_png_bytes(image) -> bytes:
    """A frame (a PIL image) as the PNG a frames directory holds."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def animation_paths(output: str | os.PathLike) -> tuple[Path, Path]:
    """The video (``output``, a new .mp4) and its sidecar beside it (``.json``), both
    refused if they exist; imageio-ffmpeg must be installed."""
    video = check_output_file(output, (".mp4",), "the video")
    sidecar = check_output_file(video.with_suffix(".json"), (".json",), "the video's sidecar")
    require_imageio_ffmpeg()
    remove_stale_temporaries(video.parent)  # a killed render's half-written video
    return video, sidecar


def check_video_size(width: int, height: int) -> None:
    """H.264 in 4:2:0 needs even sides."""
    if width % 2 or height % 2:
        raise UsageError(f"a 360 video's frames must have even sides (H.264 4:2:0), got {width}x{height}; "
                         f"choose --panorama_width a multiple of 4, e.g. {4 * max(1, round(width / 4))}")  # fmt: skip


def video_disk_bytes(frames: int, pixels: int) -> int:
    return int(frames * MP4_BYTES_PER_PIXEL * pixels) + 65536


# An upper estimate of a kept frame: raw RGB plus PNG's headers and filters.
FRAME_PNG_BYTES_PER_PIXEL = 3.2


def frames_disk_bytes(frames: int, pixels: int) -> int:
    """Disk space for ``frames`` kept PNG frames of ``pixels`` pixels each (an upper estimate)."""
    return int(FRAME_PNG_BYTES_PER_PIXEL * pixels * frames)


class FrameStore:
    """The numbered PNG frames of one walk in ``directory``."""

    def __init__(self, directory: str | os.PathLike, walk, request):
        self.directory = Path(directory)
        self.frames = walk.frames
        self.recipe = frames_recipe(walk, request)
        check_name_lengths(self.directory / frame_name(0), "--frames_dir")
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"--frames_dir {self.directory} is a file, not a directory")
        recorded = self._recorded()
        if recorded is not None and recorded != self.recipe:
            raise UsageError(f"--frames_dir {self.directory} holds the frames of another walk or request (see its "
                             f"{WALK_FILE}); give a new directory, or the same options to resume")  # fmt: skip
        if recorded is None and self.directory.is_dir() and any(self.directory.glob("[0-9]*.png")):
            raise UsageError(f"--frames_dir {self.directory} holds frames without a {WALK_FILE}; give a new directory")

    def _recorded(self) -> dict | None:
        path = self.directory / WALK_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise UsageError(f"{path} is not valid JSON; give a new --frames_dir") from None

    def _path(self, index: int) -> Path:
        return self.directory / frame_name(index)

    def missing(self) -> list[int]:
        return [index for index in range(self.frames) if not self._path(index).is_file()]

    def missing_count(self) -> int:
        return len(self.missing())

    def prepare(self) -> None:
        """Create the directory, drop a killed run's half-written frames, record the walk."""
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.directory)
        if self._recorded() is None:
            write_bytes_atomic(self.directory / WALK_FILE, json.dumps(self.recipe, indent=2).encode("utf-8"))

    def all_frames(self, made: Iterable) -> Iterator:
        """Every frame in order as a PIL image: those on disk read back, the others taken
        from ``made`` ((index, image) for exactly the missing indices, in order) and saved."""
        made = iter(made)
        for index in range(self.frames):
            path = self._path(index)
            if path.is_file():
                with open_image(path) as image:
                    yield image.convert("RGB")
                continue
            made_index, image = next(made)
            if made_index != index:
                raise UsageError(f"frame {made_index} came where frame {index} was due")
            write_bytes_atomic(path, frame_png_bytes(image))
            yield image


def write_sidecar(path: Path, walk, plan, generator) -> Path:
    """Write :func:`animation_sidecar` to ``path`` (a new file)."""
    sidecar = animation_sidecar(walk, plan, generator)
    return write_bytes_atomic(path, json.dumps(sidecar, indent=2, allow_nan=False).encode("utf-8"))


def animation_sidecar(walk, plan, generator) -> dict:
    """The JSON that makes the video again: the walk, the panorama request every frame
    shares (sizes and chunking filled in) and the generator."""
    request = plan.request.replace(panorama_width=plan.width, panorama_height=plan.height, max_views=plan.max_views,
                                   memory_budget=None)  # fmt: skip
    return {
        "ganorama_version": __version__,
        "kind": ANIMATION_KIND,
        "model": generator.model_name,
        "weights": generator.weights,
        "image_size": generator.image_size,
        "dtype": str(generator.dtype).removeprefix("torch."),
        "device": generator.device.type,
        "width": plan.width,
        "height": plan.height,
        "projection": "equirectangular",
        "walk": walk.to_dict(),
        "request": request.to_dict(),
    }
