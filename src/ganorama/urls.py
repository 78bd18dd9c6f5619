"""Writing to any fsspec URL (``s3://``, ``gs://``, ``file://`` or a plain path).

Files are made in a local staging folder by :mod:`ganorama.files`, then each is uploaded
under a temporary name beside its destination and moved into place, the sidecar last, so
the sidecar's presence still means the result is complete. Where the filesystem's move is
a rename this is atomic; on object stores a move is a server-side copy, and an object
appears only once it is whole, so no half-written file shows under a final name either
way. Local paths and ``file://`` URLs go through the local functions unchanged.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ganorama.errors import UsageError
from ganorama.files import TEMP_MARK, TEMP_PATTERN, owner_tag, remove_stale_temporaries, write_bytes_atomic


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
    return f"{parent}/.{name}{TEMP_MARK}{owner_tag()}-{secrets.token_hex(4)}.part{suffix}"


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



def upload(fs, local: Path, destination: str) -> list[str]:
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
            if TEMP_PATTERN.match(entry.rstrip("/").rpartition("/")[2]):
                with contextlib.suppress(FileNotFoundError, OSError):
                    fs.rm_file(entry)
                    removed.append(entry)
    return removed
