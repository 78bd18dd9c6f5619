"""Results of the web app on disk: each one written with the project's own writers into
its own folder under the server's temporary folder, plus what the page shows of it.

A result's files are exactly what ``ganorama panorama -o NAME.png`` writes for the same
request (:func:`ganorama.outputs.save_result_files`: the image with GPano XMP, the JSON
sidecar, and the exports the request asks for); the page adds a zip of the cubemap
folder (a browser downloads files, not folders), a thumbnail for the history strip and,
for textures, a 3x3 tiling that shows the texture repeat. Nothing here imports gradio.
"""
from __future__ import annotations

import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

from ganorama.files import write_with
from ganorama.formats import suffix_for

THUMBNAIL_SIZE = (256, 128)
# The 3x3 preview of a texture is scaled to at most this side, whatever the texture's size.
TILED_PREVIEW_MAX = 1536
# Results a page keeps in its history; older ones are removed from disk.
HISTORY_LENGTH = 24


@dataclass(frozen=True)
class StoredResult:
    """One result's files and what the page needs to show it again."""

    id: str
    kind: str
    title: str  # "sandbar, seed 42"
    folder: Path
    image: Path
    sidecar: Path
    downloads: tuple[Path, ...]
    thumbnail: Path
    views_sheet: Path | None = None
    tiled_preview: Path | None = None
    seconds: float = 0.0  # how long the generator took to make it

    def viewer_page(self) -> str:
        """The project's offline 360 viewer page for this panorama (image inlined)."""
        from ganorama.export.viewer import read_panorama_for_viewer, render_viewer_html

        data, mime = read_panorama_for_viewer(self.image)
        return render_viewer_html(data, mime, self.title)


class ResultStore:
    """Results by id, each in ``root/ID/``. Thread-safe: the page's handlers run in threads."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._results: dict[str, StoredResult] = {}
        self._lock = threading.Lock()

    def add(self, result, seconds: float = 0.0) -> StoredResult:
        """Write ``result`` (a :class:`ganorama.result.Result`) and return its entry."""
        result_id = secrets.token_hex(8)
        folder = self.root / result_id
        folder.mkdir()
        try:
            stored = replace(_write(result, result_id, folder), seconds=seconds)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._results[result_id] = stored
        return stored

    def get(self, result_id: str) -> StoredResult | None:
        with self._lock:
            return self._results.get(result_id)

    def discard(self, result_ids: Iterable[str]) -> None:
        """Remove these results and their files (a page closed, or its history is full)."""
        for result_id in list(result_ids or ()):
            with self._lock:
                stored = self._results.pop(result_id, None)
            if stored is not None:
                shutil.rmtree(stored.folder, ignore_errors=True)


def generate_result(generator, store: ResultStore, request,
                    on_progress: Callable[[int, int], None] | None = None) -> StoredResult:  # fmt: skip
    """Check ``request`` against the loaded model (layer range, overlap, memory: the CLI's
    checks and messages), make it with ``generator`` (a :class:`ganorama.Ganorama`) and
    write it into ``store``. ``on_progress(done, total)`` follows the generator's steps."""
    from ganorama.request import flag_label

    plan = generator.preflight(request, label=flag_label)
    start = time.perf_counter()

    def progress(done: int, total: int, _results: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    result = generator.run(plan, on_progress=progress)
    return store.add(result, seconds=time.perf_counter() - start)


def _write(result, result_id: str, folder: Path) -> StoredResult:
    from ganorama.outputs import result_paths, save_result_files

    request = result.request
    image_path = folder / f"{result.kind}_{result.seed}{suffix_for(request.format)}"
    written = save_result_files(result, image_path)
    paths = result_paths(image_path, request)
    downloads = [path for path in written if path.is_file()]
    if "cubemap" in paths:
        downloads.append(_zip_folder(paths["cubemap"]))
    title = f"{classes_title(result.view_class_names)}, seed {result.seed}"
    thumbnail = _thumbnail(result, folder / "thumbnail.png")
    tiled = _tiled_preview(result, folder / "tiled_3x3.png") if result.kind == "texture" else None
    return StoredResult(id=result_id, kind=result.kind, title=title, folder=folder, image=image_path,
                        sidecar=paths["sidecar"], downloads=tuple(downloads), thumbnail=thumbnail,
                        views_sheet=paths.get("save_views"), tiled_preview=tiled)  # fmt: skip


def classes_title(view_class_names: list[str], shown: int = 3) -> str:
    """The classes of a result in a few words: random classes give one per view."""
    names = list(dict.fromkeys(view_class_names))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _zip_folder(folder: Path) -> Path:
    """``NAME/`` -> ``NAME.zip`` beside it, the files under ``NAME/`` inside (stored: the
    images in it are compressed already)."""
    destination = folder.with_name(folder.name + ".zip")

    def write(temp: Path) -> None:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, f"{folder.name}/{file.name}")

    return write_with(destination, write)


def _thumbnail(result, path: Path) -> Path:
    image = result.to_pil()
    image.thumbnail(THUMBNAIL_SIZE)
    return write_with(path, lambda temp: image.save(temp, "PNG"))


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
