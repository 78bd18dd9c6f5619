"""Writing results without ever losing anything: the one place for atomic writes, index
claiming and temporary files.

- Every file is written under a temporary name in its destination directory and renamed
  into place only when complete, so an interrupted run leaves no half-written file under
  a final name. Temporary names carry the writing process's id and start time, so a
  later run recognises the leftovers of a killed one and removes them.
- An existing file is never replaced: numbered results claim the least unused number N
  atomically (an exclusive ``.N.claim`` file), so concurrent runs into one folder get
  different numbers whatever their formats; explicitly named outputs that exist are refused.
- A result is a set of files (image, JSON sidecar, views, exports): if any of them
  cannot be written, the ones already written for it are removed again. The sidecar is
  written last, so its presence means the result is complete.
- Files get the usual permissions (0666 minus the umask), not ``mkstemp``'s 0600.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Callable, Iterator

from ganorama.errors import GanoramaError, UsageError

_TEMP_MARK = ".ganorama-"
# .NAME.ganorama-PID-START-RANDOM.part.SUFFIX
_TEMP_PATTERN = re.compile(r"^\..*\.ganorama-(\d+)-(\d+)-[0-9a-f]+\.part(\.[^.]*)?$")
_CLAIM_PATTERN = re.compile(r"^\.(\d+)\.claim$")
_NUMBERED_PATTERN = re.compile(r"^(\d+)(?:[._].*)?$")
# Image file suffixes and the format each means.
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}


# --- which process made a file ----------------------------------------------------------


def _process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _owner_tag() -> str:
    pid = os.getpid()
    return f"{pid}-{_process_start(pid) or 0}"


def _owner_alive(pid: int, start: int) -> bool:
    """Whether the process that wrote a ``PID-START`` tag still runs (a reused pid has
    another start time)."""
    if pid == os.getpid():
        return True
    current = _process_start(pid)
    if current is not None:
        return start == 0 or current == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path("/proc").is_dir()  # without /proc a live pid is all we can know


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove temporary files and index claims left in ``directory`` by processes that no
    longer run (e.g. killed with SIGKILL); return what was removed."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if not entry.name.startswith("."):
            continue
        owner = None
        match = _TEMP_PATTERN.match(entry.name)
        if match:
            owner = int(match.group(1)), int(match.group(2))
        elif _CLAIM_PATTERN.match(entry.name):
            owner = _read_claim(entry)
        if owner is not None and not _owner_alive(*owner):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                entry.unlink()
                removed.append(entry)
    return removed


def _read_claim(path: Path) -> tuple[int, int] | None:
    try:
        pid, start = path.read_text(encoding="ascii").split("-")[:2]
        return int(pid), int(start)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


# --- atomic files -------------------------------------------------------------------------


def _creation_mode() -> int:
    """0666 minus the process's umask: what ``open()`` would give a new file."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the only portable way, and put it back
    os.umask(mask)
    return 0o666 & ~mask


def temporary_name(destination: Path) -> Path:
    """A hidden name beside ``destination`` that marks its writer (see module doc)."""
    name = f".{destination.name}{_TEMP_MARK}{_owner_tag()}-{secrets.token_hex(4)}.part{destination.suffix}"
    return destination.with_name(name)


_DEFAULT_NAME_MAX = 255


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return _DEFAULT_NAME_MAX


def check_name_lengths(path: str | os.PathLike, what: str = "output", temporary: bool = True) -> None:
    """UsageError unless every component of ``path`` still to be created fits the file
    system's name limit, the last one (a file, written under :func:`temporary_name` first
    when ``temporary``) with room for its temporary name. Checked before anything else: a
    name too long cannot even be looked up (``exists`` fails with ENAMETOOLONG)."""
    from ganorama.resources import nearest_existing

    path = Path(path)
    anchor = nearest_existing(path)
    name_max = _name_max(anchor) if anchor.is_dir() else _DEFAULT_NAME_MAX
    parts = Path(os.path.abspath(path)).relative_to(anchor).parts
    for index, part in enumerate(parts):
        length = len(os.fsencode(part))
        last = index == len(parts) - 1
        extra = len(os.fsencode(temporary_name(Path(part)).name)) - length if last and temporary else 0
        limit = name_max - extra
        if length > limit:
            room = " (the file system's limit, less room for the temporary name it is written under)"
            raise UsageError(
                f"cannot write {what}: the name {part[:40]!r}... is {length} bytes long; at most {limit} are "
                f"allowed{room if last and temporary else ''}"
            )


def check_new_file(destination: str | os.PathLike) -> Path:
    """UsageError unless ``destination`` does not exist (nothing is ever replaced)."""
    destination = Path(destination)
    if destination.exists() or destination.is_symlink():
        raise UsageError(f"{destination} already exists; choose another output name")
    return destination


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; on success it becomes ``destination``.

    Without ``overwrite`` the final step is ``os.link`` + unlink, which fails if the
    destination appeared meanwhile, so a concurrent writer is never clobbered."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        check_new_file(destination)
    temp = temporary_name(destination)
    try:
        yield temp
        if not temp.exists():
            raise GanoramaError(f"nothing was written for {destination}")
        os.chmod(temp, _creation_mode())
        if overwrite:
            os.replace(temp, destination)
        else:
            _link_new(temp, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _link_new(temp: Path, destination: Path) -> None:
    try:
        os.link(temp, destination)
    except FileExistsError:
        raise UsageError(f"{destination} already exists; choose another output name") from None
    except OSError as error:
        if error.errno not in (1, 18, 38, 95):  # EPERM, EXDEV, ENOSYS, EOPNOTSUPP: no hard links here
            raise
        # Filesystems without hard links: a checked rename (racy only against other writers).
        check_new_file(destination)
        os.replace(temp, destination)


def write_bytes_atomic(destination: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    with atomic_path(destination, overwrite=overwrite) as temp:
        temp.write_bytes(data)
    return Path(destination)


def write_with(destination: str | os.PathLike, writer: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call ``writer(temp_path)`` and move the finished file to ``destination``."""
    with atomic_path(destination, overwrite=overwrite) as temp:
        writer(temp)
    return Path(destination)


# --- numbered results -----------------------------------------------------------------------


def taken_indices(directory: str | os.PathLike) -> set[int]:
    """Numbers N that some ``N.*``/``N_*`` file or a live ``.N.claim`` already uses."""
    directory = Path(directory)
    taken: set[int] = set()
    if directory.is_dir():
        for entry in directory.iterdir():
            match = _NUMBERED_PATTERN.match(entry.name) or _CLAIM_PATTERN.match(entry.name)
            if match:
                taken.add(int(match.group(1)))
    return taken


def next_free_index(directory: str | os.PathLike) -> int:
    """The least N such that no ``N.*``, ``N_*`` nor claim of N exists in ``directory``."""
    taken = taken_indices(directory)
    index = 0
    while index in taken:
        index += 1
    return index


@contextlib.contextmanager
def claim_index(directory: str | os.PathLike) -> Iterator[int]:
    """Claim the least unused result number in ``directory`` for this process and yield it;
    the claim is released when the block ends (by then the result's files exist).

    The claim is an exclusive create of ``.N.claim``, so two runs into one folder never
    get the same N; after claiming, N is checked again against finished files, since a
    run that finished N releases its claim only after writing them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    while True:
        index = next_free_index(directory)
        claim = directory / f".{index}.claim"
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue  # another run claimed it between listing and creating: take the next
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(_owner_tag())
        if any(_NUMBERED_PATTERN.match(entry.name) and int(_NUMBERED_PATTERN.match(entry.name).group(1)) == index
               for entry in directory.iterdir()):  # fmt: skip
            claim.unlink()
            continue
        break
    try:
        yield index
    finally:
        with contextlib.suppress(FileNotFoundError):
            claim.unlink()


class ResultFiles:
    """The files of one result, written one by one; :meth:`rollback` removes them all
    (used when a later file of the same result cannot be written)."""

    def __init__(self, on_written: Callable[[Path], None] | None = None):
        self.paths: list[Path] = []
        self._on_written = on_written

    def add(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        self.paths.append(path)
        return path

    def write(self, destination: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
        return self.add(write_with(destination, writer))

    def write_json(self, destination: str | os.PathLike, payload: dict) -> Path:
        text = json.dumps(payload, indent=2, allow_nan=False)
        return self.write(destination, lambda path: path.write_text(text + "\n", encoding="utf-8"))

    def rollback(self) -> None:
        import shutil

        for path in reversed(self.paths):
            with contextlib.suppress(FileNotFoundError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        self.paths.clear()

    def report(self) -> None:
        if self._on_written is not None:
            for path in self.paths:
                self._on_written(path)


@contextlib.contextmanager
def result_files(on_written: Callable[[Path], None] | None = None) -> Iterator[ResultFiles]:
    """Collect one result's files; on any error or interrupt remove them and re-raise, on
    success report each (``on_written(path)``, e.g. print)."""
    files = ResultFiles(on_written)
    try:
        yield files
    except BaseException:
        files.rollback()
        raise
    files.report()


# --- whole results ---------------------------------------------------------------------------


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


def check_result_paths(image_path: Path, request) -> None:
    """UsageError if any file of the result would replace an existing one or has a name
    too long to be written."""
    for role, path in result_paths(image_path, request).items():
        check_name_lengths(path, temporary=role != "cubemap")  # the cubemap is a folder
        check_new_file(path)


def save_result_files(result, image_path: Path, format: str | None = None, quality: int | None = None,
                      on_written: Callable[[Path], None] | None = None) -> list[Path]:  # fmt: skip
    """Write ``result`` as ``image_path`` plus its sidecar, views and exports (see
    :func:`result_paths`), all or nothing; the sidecar last. Returns the paths."""
    request = result.request
    image_path = Path(image_path)
    format = format or format_from_suffix(image_path) or (request.format if request else "png")
    quality = quality or (request.quality if request else 95)
    check_result_paths(image_path, request)
    paths = result_paths(image_path, request)
    kind = result.metadata.get("kind", "panorama")
    with result_files(on_written) as files:
        files.add(_save_image(result, image_path, format, quality, kind))
        if "save_views" in paths:
            columns = result.metadata.get("cols")
            sheet = result.views_contact_sheet(columns)
            files.write(paths["save_views"], lambda path: sheet.save(path, "PNG"))
        if "cubemap" in paths:
            from ganorama.export.cubemap import save_cubemap

            files.add(paths["cubemap"])  # removed whole if a later file fails
            save_cubemap(result.image, paths["cubemap"], format=format)
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

            write_ply(paths["export_point_cloud"], *views_points(result.views, result.metadata["views"]))
            files.add(paths["export_point_cloud"])
        files.write_json(paths["sidecar"], result.metadata)
        written = list(files.paths)
    return written


def save_numbered_result(result, directory: str | os.PathLike, format: str | None = None,
                         on_written: Callable[[Path], None] | None = None) -> list[Path]:  # fmt: skip
    """Write ``result`` as ``DIRECTORY/N.EXT`` (+ its other files) at the least unused N,
    claimed atomically so concurrent runs into one folder never collide."""
    format = format or (result.request.format if result.request else "png")
    with claim_index(directory) as index:
        return save_result_files(result, Path(directory) / f"{index}.{format}", format=format, on_written=on_written)


def format_from_suffix(path: str | os.PathLike) -> str | None:
    """"png" or "jpg" for an image file name, None for any other suffix."""
    return IMAGE_SUFFIXES.get(Path(path).suffix.lower())


def _save_image(result, path: Path, format: str, quality: int, kind: str) -> Path:
    if kind == "panorama":
        from ganorama.export.metadata import save_panorama

        return Path(save_panorama(result.to_pil(), path, format=format, quality=quality))
    image = result.to_pil()
    if format == "jpg":
        return write_with(path, lambda temp: image.save(temp, "JPEG", quality=quality))
    return write_with(path, lambda temp: image.save(temp, "PNG"))


def prepare_directory(directory: str | os.PathLike, label: str = "output directory") -> list[Path]:
    """Make sure results can be written into ``directory`` before any work starts: create
    it (and missing parents) and write and remove a probe file. Returns the directories
    created, outermost first, so a run that writes nothing can remove them again.
    Raises UsageError naming the path and what is wrong."""
    directory = Path(directory)
    missing = []
    probe = directory
    try:
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise UsageError(f"{label} {directory}: {probe} is a file, not a directory")
    except OSError as error:  # a name over 255 bytes, a loop of links...
        raise UsageError(f"{label} {directory} cannot be used: {error.strerror or error}") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / ".ganorama-write-check", overwrite=True) as temp:
            temp.write_bytes(b"")
        (directory / ".ganorama-write-check").unlink()
    except OSError as error:
        for created in missing:  # innermost first
            with contextlib.suppress(OSError):
                created.rmdir()
        reason = error.strerror or type(error).__name__
        raise UsageError(f"{label} {directory} is not writable: {reason}") from None
    return list(reversed(missing))


# --- fsspec destinations ----------------------------------------------------------------------
# A result written to any fsspec URL (s3://, gs://, memory://, ...): the files are made
# in a local staging folder by the functions above, then each is uploaded under a
# temporary name beside its destination and moved into place, the sidecar last, so the
# sidecar's presence still means the result is complete. Where the filesystem's move is
# a rename this is atomic; on object stores a move is a server-side copy, and an object
# appears only once it is whole, so no half-written file shows under a final name either
# way. Local paths and file:// URLs go through the local functions unchanged.


def is_local_url(url: str | os.PathLike) -> bool:
    """Whether ``url`` is a plain path or a ``file://`` URL (written with the local
    functions above), rather than another fsspec filesystem."""
    text = os.fspath(url)
    return "://" not in text or text.startswith("file://")


def local_path(url: str | os.PathLike) -> Path:
    """The path a local ``url`` (plain path or ``file://``) names."""
    text = os.fspath(url)
    return Path(text.removeprefix("file://")) if text.startswith("file://") else Path(text)


def url_filesystem(url: str):
    """``(filesystem, path inside it)`` for an fsspec URL; UsageError naming the URL if no
    filesystem serves it here (fsspec missing, or its protocol's package not installed)."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise UsageError(f"output {url} is a URL; writing to URLs needs fsspec: pip install fsspec") from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"output {url} cannot be opened here: {reason}") from None


def join_url(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def url_temporary_name(destination: str) -> str:
    """The temporary name beside ``destination`` (same rule as :func:`temporary_name`)."""
    parent, _, name = destination.rpartition("/")
    suffix = Path(name).suffix
    return f"{parent}/.{name}{_TEMP_MARK}{_owner_tag()}-{secrets.token_hex(4)}.part{suffix}"


def put_file_atomic(fs, local: Path, destination: str, overwrite: bool = False) -> str:
    """Upload ``local`` to ``destination`` on ``fs`` under a temporary name, then move it
    into place. Without ``overwrite`` an existing destination is refused (UsageError)."""
    if not overwrite and fs.exists(destination):
        raise UsageError(f"{destination} already exists; choose another output name")
    temp = url_temporary_name(destination)
    try:
        fs.put_file(str(local), temp)
        if overwrite and fs.exists(destination):
            fs.rm_file(destination)
        fs.mv(temp, destination)
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            if fs.exists(temp):
                fs.rm_file(temp)
    return destination


def write_bytes_to_url(url: str, data: bytes, overwrite: bool = False) -> str:
    """Write ``data`` to ``url`` atomically (a local path or file:// included)."""
    if is_local_url(url):
        return str(write_bytes_atomic(local_path(url), data, overwrite=overwrite))
    import tempfile

    fs, path = url_filesystem(url)
    with tempfile.TemporaryDirectory(prefix="ganorama-upload-") as staging:
        local = Path(staging) / Path(path).name
        local.write_bytes(data)
        put_file_atomic(fs, local, path, overwrite=overwrite)
    return url


def save_result_files_to_url(result, directory: str, stem: str, format: str | None = None,
                             on_written: Callable[[str], None] | None = None) -> list[str]:  # fmt: skip
    """Write ``result`` as ``DIRECTORY/STEM.EXT`` plus its sidecar, views and exports
    (the names of :func:`result_paths`), to a local directory or any fsspec URL, all or
    nothing, the sidecar last. Returns the written paths (URLs keep their protocol)."""
    format = format or (result.request.format if result.request else "png")
    if is_local_url(directory):
        paths = save_result_files(result, local_path(directory) / f"{stem}.{format}", format=format,
                                  on_written=None if on_written is None else lambda p: on_written(str(p)))  # fmt: skip
        return [str(path) for path in paths]
    import tempfile

    fs, root = url_filesystem(directory)
    with tempfile.TemporaryDirectory(prefix="ganorama-staging-") as staging:
        staged = save_result_files(result, Path(staging) / f"{stem}.{format}", format=format)
        for path in staged:  # refuse before uploading anything
            if fs.exists(join_url(root, path.name)):
                raise UsageError(f"{join_url(directory, path.name)} already exists; choose another output name")
        uploaded: list[str] = []
        try:
            for path in staged:  # in the local order: the sidecar last
                uploaded.extend(_upload(fs, path, join_url(root, path.name)))
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


def _upload(fs, local: Path, destination: str) -> list[str]:
    """Upload a file, or a folder's files (a cubemap), each atomically; the remote paths."""
    if local.is_dir():
        return [put_file_atomic(fs, child, join_url(destination, child.name)) for child in sorted(local.iterdir())]
    return [put_file_atomic(fs, local, destination)]


def remove_url_temporaries(directory: str) -> list[str]:
    """Remove the temporary uploads (``.NAME.ganorama-....part``) left in ``directory``
    by writers that were killed. Call it only when no writer of this output is running:
    the writers' process ids belong to other machines and cannot be checked from here."""
    if is_local_url(directory):
        return [str(path) for path in remove_stale_temporaries(local_path(directory))]
    fs, root = url_filesystem(directory)
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in fs.find(root):  # exports' folders (cubemaps) included
            if _TEMP_PATTERN.match(entry.rstrip("/").rpartition("/")[2]):
                with contextlib.suppress(FileNotFoundError, OSError):
                    fs.rm_file(entry)
                    removed.append(entry)
    return removed
