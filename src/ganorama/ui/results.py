"""Results of the web app on disk: each one written with the project's own writers into
its own folder under the server's temporary folder, plus what the page shows of it, and
the server's history of them (kept while the server runs, so a reloaded page finds it).

A result's files are exactly what ``ganorama panorama -o NAME.png`` writes for the same
request (:func:`ganorama.outputs.save_result_files`: the image with GPano XMP, the JSON
sidecar, and the exports the request asks for); the page adds a zip of the cubemap
folder (a browser downloads files, not folders), a thumbnail for the history strip and,
for textures, a 3x3 tiling that shows the texture repeat. A 360 video is what
``ganorama animate -o NAME.mp4`` writes (the MP4 with spherical metadata and its
sidecar). Nothing here imports gradio.
"""
from __future__ import annotations

import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ganorama.errors import GanoramaError
from ganorama.files import write_with
from ganorama.formats import suffix_for

THUMBNAIL_SIZE = (256, 128)
# The 3x3 preview of a texture is scaled to at most this side, whatever the texture's size.
TILED_PREVIEW_MAX = 1536
# Results the server keeps in its history; older ones are removed from disk.
HISTORY_LENGTH = 24


class RunCancelled(GanoramaError):
    """The page's Cancel stopped a run between two of its steps."""


@dataclass(frozen=True)
class StoredResult:
    """One result's files and what the page needs to show it again."""

    id: str
    kind: str
    title: str  # "sandbar, seed 42"
    folder: Path
    image: Path  # the panorama, the big image or the texture; a video's first frame
    sidecar: Path
    downloads: tuple[Path, ...]
    thumbnail: Path
    views_sheet: Path | None = None
    tiled_preview: Path | None = None
    seconds: float = 0.0  # how long the generator took to make it
    video: Path | None = None  # an animation's MP4

    def viewer_page(self) -> str:
        """The project's offline 360 viewer page for this panorama (image inlined)."""
        from ganorama.export.viewer import read_panorama_for_viewer, render_viewer_html

        data, mime = read_panorama_for_viewer(self.image)
        return render_viewer_html(data, mime, self.title)


class ResultStore:
    """Results by id, each in ``root/ID/``, oldest first; the newest ``keep`` are kept.
    Thread-safe: the page's handlers run in threads."""

    def __init__(self, root: str | Path, keep: int = HISTORY_LENGTH):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._results: dict[str, StoredResult] = {}  # in the order they were made
        self._lock = threading.Lock()

    def add(self, result, seconds: float = 0.0) -> StoredResult:
        """Write ``result`` (a :class:`ganorama.result.Result`) and return its entry."""
        return self._add(lambda result_id, folder: replace(_write(result, result_id, folder), seconds=seconds))

    def add_video(self, write: Callable[[Path], StoredResult]) -> StoredResult:
        """Keep what ``write(folder)`` writes into a new result folder (an animation)."""
        return self._add(lambda result_id, folder: replace(write(folder), id=result_id))

    def _add(self, write: Callable[[str, Path], StoredResult]) -> StoredResult:
        result_id = secrets.token_hex(8)
        folder = self.root / result_id
        folder.mkdir()
        try:
            stored = write(result_id, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._results[result_id] = stored
            oldest = list(self._results)[: max(0, len(self._results) - self.keep)]
        self.discard(oldest)
        return stored

    def get(self, result_id: str) -> StoredResult | None:
        with self._lock:
            return self._results.get(result_id)

    def recent(self) -> list[StoredResult]:
        """The kept results, newest first."""
        with self._lock:
            return list(reversed(self._results.values()))

    def discard(self, result_ids: Iterable[str]) -> None:
        """Remove these results and their files."""
        for result_id in list(result_ids or ()):
            with self._lock:
                stored = self._results.pop(result_id, None)
            if stored is not None:
                shutil.rmtree(stored.folder, ignore_errors=True)


class RunControl:
    """Each page's run in progress (by the page's session), so that its Cancel can stop
    it: the run checks :meth:`check` between steps."""

    def __init__(self):
        self._runs: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> None:
        with self._lock:
            self._runs[session] = threading.Event()

    def cancel(self, session: str) -> bool:
        """Ask the session's run to stop; False when it has none."""
        with self._lock:
            run = self._runs.get(session)
        if run is not None:
            run.set()
        return run is not None

    def check(self, session: str) -> None:
        """Raise RunCancelled when the session's run was asked to stop."""
        with self._lock:
            run = self._runs.get(session)
        if run is not None and run.is_set():
            raise RunCancelled("cancelled")

    def finish(self, session: str) -> None:
        with self._lock:
            self._runs.pop(session, None)


def generate_result(generator, store: ResultStore, request,
                    on_progress: Callable[[int, int], None] | None = None) -> StoredResult:  # fmt: skip
    """Check ``request`` against the loaded model (layer range, overlap, memory: the CLI's
    checks and messages), make it with ``generator`` (a :class:`ganorama.Ganorama`) and
    write it into ``store``. ``on_progress(done, total)`` follows the generator's steps
    (and may raise, e.g. :class:`RunCancelled`, to stop the run)."""
    from ganorama.request import flag_label

    plan = generator.preflight(request, label=flag_label)
    start = time.perf_counter()

    steps = [0]

    def progress(done: int, total: int, _results: int) -> None:
        steps[0] = total
        if on_progress is not None:
            on_progress(done, total)

    result = generator.run(plan, on_progress=progress)
    if on_progress is not None:  # composed: the last step, and the last chance to stop before writing
        on_progress(steps[0], steps[0])
    return store.add(result, seconds=time.perf_counter() - start)


def generate_video(generator, store: ResultStore, request, walk,
                   on_progress: Callable[[int, int, int, int], None] | None = None) -> StoredResult:  # fmt: skip
    """The 360 video of ``walk`` (a :class:`ganorama.walks.Walk`) on ``request``'s
    panorama, as ``ganorama animate`` writes it (the MP4 with spherical metadata and its
    sidecar), into ``store``; frames stream into the encoder. ``on_progress(frame,
    frames, done, total)``: frame ``frame`` of ``frames`` is at step ``done`` of ``total``."""
    from ganorama.export.animation import encode_360_video
    from ganorama.export.frames import check_video_size, write_sidecar
    from ganorama.request import flag_label

    plan = generator.preflight(request, label=flag_label)
    check_video_size(plan.width, plan.height)
    start = time.perf_counter()
    made = 0

    def step(done: int, total: int, _results: int) -> None:
        if on_progress is not None:
            on_progress(made, walk.frames, done, total)

    def write(folder: Path) -> StoredResult:
        name = f"animation_{walk.keyframes[0].seed}"
        video, sidecar, first_frame = folder / f"{name}.mp4", folder / f"{name}.json", folder / f"{name}_frame0.png"

        def frames():
            nonlocal made
            for _, result in generator.animate(plan, walk, on_progress=step):
                image = result.to_pil()
                if made == 0:
                    write_with(first_frame, lambda temp: image.save(temp, "PNG"))
                made += 1
                yield image

        encode_360_video(frames(), video, walk.fps)
        write_sidecar(sidecar, walk, plan, generator)
        with_thumbnail = _thumbnail_of(first_frame, folder / "thumbnail.png")
        return StoredResult(id="", kind="animate", title=walk_title(walk), folder=folder, image=first_frame,
                            sidecar=sidecar, downloads=(video, sidecar), thumbnail=with_thumbnail,
                            seconds=time.perf_counter() - start, video=video)  # fmt: skip

    return store.add_video(write)


def walk_title(walk) -> str:
    """An animation in a few words: "valley -> sandbar -> valley, 8 frames, seeds 3-4"."""
    from ganorama.models.imagenet import parse_class_mix

    names = []
    for keyframe in walk.keyframes:
        names.append("random" if keyframe.classes is None else mix_title(parse_class_mix(str(keyframe.classes))))
    if walk.loop:
        names.append(names[0])
    seeds = [keyframe.seed for keyframe in walk.keyframes]
    seed_text = f"seed {seeds[0]}" if len(set(seeds)) == 1 else f"seeds {min(seeds)}-{max(seeds)}"
    return f"{' -> '.join(names)}, {walk.frames} frames, {seed_text}"


def _write(result, result_id: str, folder: Path) -> StoredResult:
    from ganorama.outputs import result_paths, save_result_files

    request = result.request
    image_path = folder / f"{result.kind}_{result.seed}{suffix_for(request.format)}"
    written = save_result_files(result, image_path)
    paths = result_paths(image_path, request)
    downloads = [path for path in written if path.is_file()]
    if "cubemap" in paths:
        downloads.append(_zip_folder(paths["cubemap"]))
    title = f"{classes_title(result.view_classes)}, seed {result.seed}"
    thumbnail = _thumbnail(result.to_pil(), folder / "thumbnail.png")
    tiled = _tiled_preview(result, folder / "tiled_3x3.png") if result.kind == "texture" else None
    return StoredResult(id=result_id, kind=result.kind, title=title, folder=folder, image=image_path,
                        sidecar=paths["sidecar"], downloads=tuple(downloads), thumbnail=thumbnail,
                        views_sheet=paths.get("save_views"), tiled_preview=tiled)  # fmt: skip


def classes_title(view_classes: Iterable[Mapping[int, float]], shown: int = 3) -> str:
    """The classes of a result in a few words, from each view's {class id: weight}: a mix
    by all its classes ("0.7 sandbar + 0.3 valley"); random classes give one per view."""
    names = list(dict.fromkeys(mix_title(mix) for mix in view_classes))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def mix_title(mix: Mapping[int, float]) -> str:
    """One view's classes: the name of a single class, a mix's names with their shares
    (largest first, shares of the whole mix)."""
    from ganorama.models.imagenet import display_name

    if len(mix) == 1:
        return display_name(next(iter(mix)))
    total = sum(mix.values())
    ranked = sorted(mix.items(), key=lambda item: (-item[1], item[0]))
    return " + ".join(f"{weight / total:.2g} {display_name(class_id)}" for class_id, weight in ranked)


def _zip_folder(folder: Path) -> Path:
    """``NAME/`` -> ``NAME.zip`` beside it, the files under ``NAME/`` inside (stored: the
    images in it are compressed already)."""
    destination = folder.with_name(folder.name + ".zip")

    def write(temp: Path) -> None:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, f"{folder.name}/{file.name}")

    return write_with(destination, write)


def _thumbnail(image, path: Path) -> Path:
    image = image.copy()
    image.thumbnail(THUMBNAIL_SIZE)
    return write_with(path, lambda temp: image.save(temp, "PNG"))


def _thumbnail_of(source: Path, path: Path) -> Path:
    from PIL import Image

    with Image.open(source) as image:
        return _thumbnail(image.convert("RGB"), path)


def tile_3x3(image):
    """A PIL image repeated 3 x 3 (a texture that tiles shows no seam between the copies),
    scaled down as a whole to at most TILED_PREVIEW_MAX wide: scaling the sheet rather
    than each copy keeps the joins as they are."""
    from PIL import Image

    sheet = Image.new("RGB", (3 * image.width, 3 * image.height))
    for row in range(3):
        for column in range(3):
            sheet.paste(image, (column * image.width, row * image.height))
    if max(sheet.size) > TILED_PREVIEW_MAX:
        sheet.thumbnail((TILED_PREVIEW_MAX, TILED_PREVIEW_MAX), Image.LANCZOS)
    return sheet


def _tiled_preview(result, path: Path) -> Path:
    sheet = tile_3x3(result.to_pil())
    return write_with(path, lambda temp: sheet.save(temp, "PNG"))
