"""A result's files: the image, its JSON sidecar, the views and the exports its request
asks for, written all or nothing with the sidecar last (its presence means the result is
complete), to a folder, a numbered slot or any fsspec URL.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable

from ganorama.errors import UsageError
from ganorama.files import (
    ResultClaim,
    check_name_lengths,
    check_new_file,
    claim_index,
    claim_result,
    file_set,
    remove_path,
    remove_stale_temporaries,
    temporary_name,
    write_with,
)
from ganorama.formats import FLOAT_FORMATS, result_format, suffix_for
from ganorama.urls import is_local_url, join_url, local_path, upload, url_filesystem


def result_paths(image_path: Path, request) -> dict[str, Path]:
    """Every path a result with ``request``'s exports writes, by role, named from the
    image path ``DIR/STEM.EXT``: ``STEM.json``, ``STEM_views.png``, ``STEM_cubemap/``,
    ``STEM.html``, ``STEM_turntable.gif``, ``STEM.glb``, ``STEM.ply``."""
    stem = image_path.with_suffix("")
    paths = {"image": image_path, "sidecar": stem.with_suffix(".json")}
    if request is not None:
        named = {"save_views": f"{stem.name}_views.png", "cubemap": f"{stem.name}_cubemap",
                 "viewer": f"{stem.name}.html", "turntable": f"{stem.name}_turntable.gif",
                 "mesh": f"{stem.name}.glb", "export_point_cloud": f"{stem.name}.ply"}  # fmt: skip
        paths.update({role: image_path.with_name(name) for role, name in named.items() if getattr(request, role)})
    return paths


def writing_order(paths: dict[str, Path]) -> list[Path]:
    """A result's paths in the order they are written: the sidecar, whose presence means
    the result is whole, last."""
    return [path for role, path in paths.items() if role != "sidecar"] + [paths["sidecar"]]


def check_result_paths(image_path: Path, request, clean: bool = True) -> None:
    """UsageError if any file of the result would replace an existing one or has a name
    too long to be written. What a killed run left in the folder (temporaries, a result
    without its sidecar) is removed first (unless ``clean`` is False: a caller that has
    just done it), so it never blocks a new run."""
    if clean and image_path.parent.is_dir():
        remove_stale_temporaries(image_path.parent)
    for role, path in result_paths(image_path, request).items():
        check_name_lengths(path, temporary=role != "cubemap")  # the cubemap is a folder
        check_new_file(path)


def save_result_files(result, image_path: Path, format: str | None = None, quality: int | None = None,
                      on_written: Callable[[Path], None] | None = None,
                      claim: ResultClaim | None = None) -> list[Path]:  # fmt: skip
    """Write ``result`` as ``image_path`` plus its sidecar, views and exports (see
    :func:`result_paths`), all or nothing, the sidecar last, under a claim of the image's
    stem (``claim``, when the caller took it already) that lists them: even a SIGKILL
    leaves nothing that the next run into the folder does not remove. Returns the paths."""
    image_path = Path(image_path)
    with contextlib.ExitStack() as stack:
        if claim is None:
            check_result_paths(image_path, result.request)  # a clear message before claiming
            claim = stack.enter_context(claim_result(image_path.parent, image_path.stem, clean=False))
        return _save_claimed(result, image_path, format, quality, on_written, claim)


def _save_claimed(result, image_path: Path, format: str | None, quality: int | None,
                  on_written: Callable[[Path], None] | None, claim: ResultClaim) -> list[Path]:  # fmt: skip
    request = result.request
    format = result_format(image_path, format, request.format)
    quality = quality or request.quality
    check_result_paths(image_path, request, clean=False)  # again: a run may have finished it meanwhile
    paths = result_paths(image_path, request)
    claim.record([path.name for path in writing_order(paths)])
    with file_set(on_written) as files:
        files.add(_save_image(result, image_path, format, quality))
        if "save_views" in paths:
            sheet = result.views_contact_sheet()
            files.write(paths["save_views"], lambda path: sheet.save(path, "PNG"))
        if "cubemap" in paths:
            from ganorama.export.cubemap import save_cubemap

            files.add(paths["cubemap"])  # removed whole if a later file fails
            files.report_as(paths["cubemap"], save_cubemap(result.image, paths["cubemap"], format=format).values())
        if "viewer" in paths:
            from ganorama.export.viewer import save_viewer

            files.add(save_viewer(image_path, paths["viewer"]))
        if "turntable" in paths:
            from ganorama.export.turntable import write_turntable

            files.add(write_turntable(result.image, paths["turntable"], displace=request.displace, progress=False))
        if "mesh" in paths:
            from ganorama.export.mesh import save_sphere_glb

            files.add(save_sphere_glb(result.image, paths["mesh"], displace=request.displace))
        if "export_point_cloud" in paths:
            from ganorama.export.pointcloud import views_points, write_ply

            write_ply(paths["export_point_cloud"], *views_points(result.views, result.canvas.views))
            files.add(paths["export_point_cloud"])
        files.write_json(paths["sidecar"], result.sidecar())
        written = list(files.paths)
    return written


def replace_result_files(result, image_path: Path, format: str | None = None,
                         quality: int | None = None) -> list[Path]:  # fmt: skip
    """Write ``result`` as :func:`save_result_files` does, replacing the files of the same
    names on purpose: the whole result is first written into a hidden folder beside it
    (a killed run's is removed by the next run), then each file takes its place
    atomically (``os.replace``; the cube-map folder is swapped whole), the sidecar last."""
    image_path = Path(image_path)
    check_name_lengths(image_path)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    staging = temporary_name(image_path.parent / f"{image_path.stem}-staged")
    staging.mkdir()
    try:
        staged = save_result_files(result, staging / image_path.name, format=format, quality=quality)
        return [_move_into_place(path, image_path.parent / path.name) for path in staged]
    finally:
        remove_path(staging)


def _move_into_place(source: Path, destination: Path) -> Path:
    """``source`` renamed to ``destination``, replacing what is there: a file atomically,
    a folder (or a file by a folder) by moving the old one aside first."""
    if destination.is_dir() or source.is_dir():
        if destination.exists() or destination.is_symlink():
            aside = temporary_name(destination)
            os.rename(destination, aside)
            os.rename(source, destination)
            remove_path(aside)
            return destination
        os.rename(source, destination)
        return destination
    os.replace(source, destination)
    return destination


def save_numbered_result(result, directory: str | os.PathLike, format: str | None = None,
                         on_written: Callable[[Path], None] | None = None) -> list[Path]:  # fmt: skip
    """Write ``result`` as ``DIRECTORY/N.EXT`` (+ its other files) at the least unused N,
    claimed atomically so concurrent runs into one folder never collide."""
    format = result_format(None, format, result.request.format)
    with claim_index(directory) as claim:
        return save_result_files(result, Path(directory) / f"{claim.stem}{suffix_for(format)}", format=format,
                                 on_written=on_written, claim=claim)  # fmt: skip



def _save_image(result, path: Path, format: str, quality: int) -> Path:
    equirect = result.canvas.projection == "equirectangular"
    if format in FLOAT_FORMATS:  # from the float composition, never its 8-bit image
        from ganorama.export.float_images import save_float_image
        from ganorama.export.metadata import float_image_metadata

        text = float_image_metadata(format, result.metadata_json(), result.image.shape[-1] if equirect else None)
        return save_float_image(result.image, path, format, text=text, envmap="latlong" if equirect else None)
    if equirect:  # with the GPano 360 metadata
        from ganorama.export.metadata import save_panorama

        return Path(save_panorama(result.to_pil(), path, format=format, quality=quality))
    image = result.to_pil()
    if format == "jpg":
        return write_with(path, lambda temp: image.save(temp, "JPEG", quality=quality))
    return write_with(path, lambda temp: image.save(temp, "PNG"))



def save_result_files_to_url(result, directory: str, stem: str, format: str | None = None,
                             on_written: Callable[[str], None] | None = None) -> list[str]:  # fmt: skip
    """Write ``result`` as ``DIRECTORY/STEM.EXT`` plus its sidecar, views and exports
    (the names of :func:`result_paths`), to a local directory or any fsspec URL, all or
    nothing, the sidecar last. Returns the written paths (URLs keep their protocol)."""
    format = result_format(None, format, result.request.format)
    if is_local_url(directory):
        paths = save_result_files(result, local_path(directory) / f"{stem}{suffix_for(format)}", format=format,
                                  on_written=None if on_written is None else lambda p: on_written(str(p)))  # fmt: skip
        return [str(path) for path in paths]
    import tempfile

    fs, root = url_filesystem(directory)
    with tempfile.TemporaryDirectory(prefix="ganorama-staging-") as staging:
        staged = save_result_files(result, Path(staging) / f"{stem}{suffix_for(format)}", format=format)
        for path in staged:  # refuse before uploading anything
            if fs.exists(join_url(root, path.name)):
                raise UsageError(f"{join_url(directory, path.name)} already exists; choose another output name")
        uploaded: list[str] = []
        try:
            for path in staged:  # in the local order: the sidecar last
                uploaded.extend(upload(fs, path, join_url(root, path.name)))
        except BaseException:
            for remote in reversed(uploaded):
                with contextlib.suppress(OSError):
                    fs.rm_file(remote)
            raise
    written = [join_url(directory, path.name) for path in staged]
    if on_written is not None:
        for url in written:
            on_written(url)
    return written

