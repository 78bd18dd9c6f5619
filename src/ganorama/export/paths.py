"""Can an export be written where it was asked to go? Checked before any work.

Every exporter calls these first, so that a bad ``-o`` (a directory that cannot be
created or written, an existing file, a name too long for the file system, a suffix
that does not match the format) fails in one line before a panorama is read or a frame
rendered, and never after minutes of work.

- :func:`check_output_file` (path, suffixes, what) -> Path
- :func:`check_output_directory` (directory, names, what) -> Path
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from ganorama.errors import UsageError
from ganorama.files import check_name_lengths
from ganorama.resources import nearest_existing

def _check_writable(path: Path, what: str) -> None:
    """``path``'s nearest existing ancestor must be a directory we can create files in,
    tried for real: permission bits say nothing for root, /proc or read-only mounts."""
    anchor = nearest_existing(path.parent)
    if not anchor.is_dir():
        raise UsageError(f"cannot write {what} {path}: {anchor} is not a directory")
    try:
        handle, probe = tempfile.mkstemp(prefix=".ganorama-write-test-", dir=anchor)
    except OSError as error:
        raise UsageError(f"cannot write {what} {path}: cannot create files in {anchor} ({error.strerror})") from None
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_file(path: str | os.PathLike, suffixes: Sequence[str], what: str = "output") -> Path:
    """Refuse (UsageError, one line) an output file that cannot be written: a suffix not
    in ``suffixes`` (lower case, with the dot, e.g. ('.gif', '.mp4')), an existing path,
    a name too long, or a location that is not a writable directory and cannot be
    created. Creates nothing. Returns ``path`` as a Path."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{what} {str(path)!r} must end in {' or '.join(suffixes)}")
    check_name_lengths(path, what, temporary=True)
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} already exists; choose another output name")
    _check_writable(path, what)
    return path


def check_output_directory(directory: str | os.PathLike, names: Iterable[str], what: str = "output directory") -> Path:
    """Refuse (UsageError, one line) an output directory that cannot take the files
    ``names``: it exists and is not a directory, one of the files exists, a name is too
    long, or it cannot be created or written. Creates nothing. Returns it as a Path."""
    directory, names = Path(directory), list(names)
    check_name_lengths(directory, what, temporary=False)
    for name in names:
        check_name_lengths(directory / name, what, temporary=True)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{what} {directory} exists and is not a directory")
    for name in names:
        target = directory / name
        if target.exists() or target.is_symlink():
            raise UsageError(f"{target} already exists; choose another output directory")
    _check_writable(directory / names[0] if names else directory / "x", what)
    return directory
