"""Files that are never lost: atomic writes, index claims and temporary files.

- Every file is written under a temporary name in its destination directory and linked
  into place only when complete, so an interrupted run leaves no half-written file under
  a final name. Temporary names carry the writing process's id and start time, so a
  later run recognises the leftovers of a killed one and removes them.
- An existing file is never replaced: numbered results claim the least unused number N
  atomically (an exclusive ``.N.claim`` file), so concurrent runs into one folder get
  different numbers whatever their formats; explicitly named outputs that exist are refused.
- A set of files (one result's) is written all or nothing: :func:`file_set` removes the
  ones already written if a later one fails, and a claim (``.STEM.claim``, held while the
  result is written) lists the result's files, so that when a SIGKILL leaves some of them
  without the last one (the sidecar), the next run into the folder removes them.
- Files get the usual permissions (0666 minus the umask), not ``mkstemp``'s 0600.

Torch-free, and below every writer: exporters, model downloads and results use it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ganorama.errors import GanoramaError, UsageError
from ganorama.resources import nearest_existing

TEMP_MARK = ".ganorama-"
# .NAME.ganorama-PID-START-RANDOM.part.SUFFIX
TEMP_PATTERN = re.compile(r"^\..*\.ganorama-(\d+)-(\d+)-[0-9a-f]+\.part(\.[^.]*)?$")
_CLAIM_PATTERN = re.compile(r"^\.(.+)\.claim$")
_NUMBER_CLAIM_PATTERN = re.compile(r"^\.(\d+)\.claim$")
_NUMBERED_PATTERN = re.compile(r"^(\d+)(?:[._].*)?$")
# A claim is tagged with its owner right after it is created; one still untagged after
# this long was left by a process killed in between.
OWNERLESS_CLAIM_AGE_S = 60.0
# How Rust libraries (safetensors, tokenizers) spell an OS error inside their own exception.
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


# --- which process made a file ----------------------------------------------------------


def _process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def owner_tag() -> str:
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
    """Remove what processes that no longer run (e.g. killed with SIGKILL) left in
    ``directory``: temporary files, claims, and the files of a result whose claim they
    held but whose last file (the sidecar) they never wrote. Returns what was removed."""
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if not entry.name.startswith("."):
            continue
        match = TEMP_PATTERN.match(entry.name)
        if match:
            if not _owner_alive(int(match.group(1)), int(match.group(2))):
                removed.extend(_remove(entry))
            continue
        claim = _CLAIM_PATTERN.match(entry.name)
        if claim:
            owner, names = _read_claim(entry)
            if owner is None and _older_than(entry, OWNERLESS_CLAIM_AGE_S):
                removed.extend(_remove(entry))  # its owner died between creating and tagging it
            elif owner is not None and not _owner_alive(*owner):
                removed.extend(_remove_unfinished_result(directory, claim.group(1), names))
                removed.extend(_remove(entry))
    return removed


def _older_than(path: Path, seconds: float) -> bool:
    import time

    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def remove_path(path: str | os.PathLike) -> list[Path]:
    """Remove a file or a whole folder, if it is there (a list of what was removed)."""
    return _remove(Path(path))


def _remove(path: Path) -> list[Path]:
    import shutil

    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except (FileNotFoundError, PermissionError):
        return []
    return [path]


def _remove_unfinished_result(directory: Path, stem: str, names: list[str]) -> list[Path]:
    """The files a dead claim lists, unless the last (the sidecar, written last) exists:
    then the result is whole and only its claim was left. Only names of the claimed stem
    (``STEM.*``, ``STEM_*``) directly in ``directory`` are touched, whatever a claim says."""
    if not names or (directory / names[-1]).exists():
        return []
    removed = []
    for name in names:
        if "/" in name or os.sep in name or not (name.startswith(stem + ".") or name.startswith(stem + "_")):
            continue
        removed.extend(_remove(directory / name))
    return removed


def _read_claim(path: Path) -> tuple[tuple[int, int] | None, list[str]]:
    """A claim's owner (``PID-START`` on its first line) and the result's file names (one
    a line, in the order they are written)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        pid, start = lines[0].split("-")[:2]
        return (int(pid), int(start)), [line for line in lines[1:] if line]
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None, []


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
    name = f".{destination.name}{TEMP_MARK}{owner_tag()}-{secrets.token_hex(4)}.part{destination.suffix}"
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
        try:
            yield temp
        except GanoramaError:
            raise
        except OSError as error:
            if error.filename is not None or error.errno is None:
                raise
            # Raised at close (a full disk) with no name: the file it was for.
            raise OSError(error.errno, error.strerror, str(destination)) from None
        except Exception as error:
            # A writer library's own exception for a fault of the machine (a full disk):
            # the usual OSError, so callers report it as one line naming the file.
            os_error = os_error_in(error, destination)
            if os_error is None:
                raise
            raise os_error from None
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


def os_error_in(error: BaseException, path: str | os.PathLike) -> OSError | None:
    """The OSError (errno, its text, ``path``) that a library's exception reports in its
    message, as Rust libraries do ("I/O error: No space left on device (os error 28)"),
    or None when it reports none."""
    match = _RUST_OS_ERROR.search(str(error))
    if match is None:
        return None
    number = int(match.group(1))
    return OSError(number, os.strerror(number), str(path))


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
            match = _NUMBERED_PATTERN.match(entry.name) or _NUMBER_CLAIM_PATTERN.match(entry.name)
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


class ResultClaim:
    """This process's exclusive hold on the result stem ``STEM`` in a folder: the file
    ``.STEM.claim``, holding the owner and then (:meth:`record`) the names of the files
    the result is about to write, so a later run can remove them if this one is killed."""

    def __init__(self, directory: Path, stem: str):
        self.directory = directory
        self.stem = stem
        self.path = directory / f".{stem}.claim"

    def take(self) -> bool:
        """Create the claim; False if another run holds it."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(owner_tag() + "\n")
        except OSError as error:  # a full disk: an ownerless claim would hold the name forever
            self.release()
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        return True

    def record(self, names: list[str]) -> None:
        """List the result's file names (in writing order, the sidecar last) in the claim,
        replacing its content atomically, before the first of them is written."""
        text = "\n".join([owner_tag(), *names]) + "\n"
        write_bytes_atomic(self.path, text.encode("utf-8"), overwrite=True)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def claim_result(directory: str | os.PathLike, stem: str, clean: bool = True) -> Iterator[ResultClaim]:
    """Hold the claim of the result named ``STEM`` in ``directory`` while it is written
    (after removing what killed runs left there, unless ``clean`` is False: the caller
    just did); UsageError if another run holds it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if clean:
        remove_stale_temporaries(directory)
    claim = ResultClaim(directory, stem)
    if not claim.take():
        raise UsageError(f"{directory / stem} is being written by another run; choose another output name")
    try:
        yield claim
    finally:
        claim.release()


@contextlib.contextmanager
def claim_index(directory: str | os.PathLike) -> Iterator[ResultClaim]:
    """Claim the least unused result number in ``directory`` for this process and yield
    the claim (its stem is the number); released when the block ends (by then the
    result's files exist).

    The claim is an exclusive create of ``.N.claim``, so two runs into one folder never
    get the same N; after claiming, N is checked again against finished files, since a
    run that finished N releases its claim only after writing them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    while True:
        index = next_free_index(directory)
        claim = ResultClaim(directory, str(index))
        if not claim.take():
            continue  # another run claimed it between listing and creating: take the next
        if index in _numbers_of_files(directory):
            claim.release()
            continue
        break
    try:
        yield claim
    finally:
        claim.release()


def _numbers_of_files(directory: Path) -> set[int]:
    return {int(match.group(1)) for entry in directory.iterdir() if (match := _NUMBERED_PATTERN.match(entry.name))}


class FileSet:
    """The files of one result, written one by one; :meth:`rollback` removes them all
    (used when a later file of the same result cannot be written)."""

    def __init__(self, on_written: Callable[[Path], None] | None = None):
        self.paths: list[Path] = []
        self._on_written = on_written
        self._reported_as: dict[Path, list[Path]] = {}

    def add(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        self.paths.append(path)
        return path

    def report_as(self, folder: Path, files: Sequence[Path]) -> None:
        """Report the files of ``folder`` (added whole) one by one, as a command that
        writes them alone prints them."""
        self._reported_as[Path(folder)] = [Path(file) for file in files]

    def write(self, destination: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
        return self.add(write_with(destination, writer))

    def write_json(self, destination: str | os.PathLike, payload: dict) -> Path:
        text = json.dumps(payload, indent=2, allow_nan=False)
        return self.write(destination, lambda path: path.write_text(text + "\n", encoding="utf-8"))

    def rollback(self) -> None:
        for path in reversed(self.paths):
            _remove(path)
        self.paths.clear()

    def report(self) -> None:
        if self._on_written is not None:
            for path in self.paths:
                for shown in self._reported_as.get(path, [path]):
                    self._on_written(shown)


@contextlib.contextmanager
def file_set(on_written: Callable[[Path], None] | None = None) -> Iterator[FileSet]:
    """Collect one result's files; on any error or interrupt remove them and re-raise, on
    success report each (``on_written(path)``, e.g. print)."""
    files = FileSet(on_written)
    try:
        yield files
    except BaseException:
        files.rollback()
        raise
    files.report()




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
        # A probe of this process's own (a temporary name: a killed run's is removed by the
        # next): runs started together into one folder must not remove each other's probe.
        probe_file = temporary_name(directory / "write-check")
        with open(probe_file, "xb"):
            pass
        probe_file.unlink()
    except OSError as error:
        remove_created_directories(list(reversed(missing)))
        reason = error.strerror or type(error).__name__
        raise UsageError(f"{label} {directory} is not writable: {reason}") from None
    return list(reversed(missing))


def remove_created_directories(created: list[Path]) -> None:
    """Undo :func:`prepare_directory` for a run that wrote nothing: remove the directories
    it created (``created`` outermost first, as it returns them), innermost first, stopping
    at the first one that is not empty."""
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            break
