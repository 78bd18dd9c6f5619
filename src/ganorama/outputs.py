"""Writing results without ever losing anything.

Every file is written to a temporary name in the destination directory and renamed
into place only when complete, so an interrupted run leaves no half-written file.
An existing file is never replaced: numbered outputs take the least unused number,
and explicitly named outputs that already exist are refused.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ganorama.errors import UsageError


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; on success it becomes ``destination``.

    The final rename uses ``os.link`` + unlink when ``overwrite`` is false, which fails
    if the destination appeared meanwhile, so a concurrent writer is never clobbered.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and destination.exists():
        raise UsageError(f"{destination} already exists; choose another output name")
    fd, temp_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part" + destination.suffix, dir=destination.parent
    )
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        if overwrite:
            os.replace(temp, destination)
        else:
            try:
                os.link(temp, destination)
            except FileExistsError:
                raise UsageError(f"{destination} already exists; choose another output name") from None
            except OSError:
                # Filesystems without hard links: fall back to a checked rename.
                if destination.exists():
                    raise UsageError(f"{destination} already exists; choose another output name") from None
                os.replace(temp, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_bytes_atomic(destination: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    with atomic_path(destination, overwrite=overwrite) as temp:
        temp.write_bytes(data)
    return Path(destination)


def write_with(destination: str | os.PathLike, writer: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call ``writer(temp_path)`` and move the finished file to ``destination``."""
    with atomic_path(destination, overwrite=overwrite) as temp:
        writer(temp)
    return Path(destination)


def next_free_index(directory: str | os.PathLike, suffixes: tuple[str, ...] = (".png", ".jpg", ".json")) -> int:
    """The least N such that no ``N<suffix>`` (nor ``N_*``) exists in ``directory``."""
    directory = Path(directory)
    taken: set[int] = set()
    if directory.is_dir():
        pattern = re.compile(r"^(\d+)(?:[._].*)?$")
        for entry in directory.iterdir():
            match = pattern.match(entry.name)
            if match:
                taken.add(int(match.group(1)))
    index = 0
    while index in taken:
        index += 1
    return index
