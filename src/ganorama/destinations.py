"""Where a batch of results goes: :class:`Destination`, a local directory or any fsspec
URL (``s3://``, ``gs://``, ``memory://``, ``file://``), read and written the same way.

It lists what is there already, reads a sidecar back, removes what a killed writer left
(an unfinished result's files, temporaries) and writes a result's files whole under
their final names (:func:`ganorama.outputs.save_result_files_to_url`). It knows files
and stems, not job rows: ``ganorama batch`` names what to write.
"""
from __future__ import annotations

import json
import os

from ganorama.errors import UsageError
from ganorama.files import prepare_directory, write_with
from ganorama.outputs import save_result_files_to_url
from ganorama.resources import nearest_existing
from ganorama.urls import (is_local_url, join_url, local_path, put_file_atomic, remove_url_temporaries,
                           url_filesystem, write_bytes_to_url)  # fmt: skip


# fsspec file systems that live in one process's memory: workers in other processes
# would write where the driver never looks.
PROCESS_LOCAL_PROTOCOLS = ("memory",)


class Destination:
    """A directory of results: a local directory (a path or ``file://``) or any fsspec
    URL, holding each result's files under its stem and any JSON files written beside
    them (``ganorama batch`` writes its summary.json there)."""

    def __init__(self, url: str):
        self.url = str(url)
        self.local = local_path(self.url) if is_local_url(self.url) else None
        self._fs = None
        self._root = None

    def __reduce__(self):  # workers get the URL and open the filesystem themselves
        return (Destination, (self.url,))

    @property
    def filesystem(self):
        if self._fs is None:
            self._fs, self._root = url_filesystem(self.url)
        return self._fs, self._root

    def display(self, name: str) -> str:
        return str(self.local / name) if self.local is not None else join_url(self.url, name)

    # --- before a run ----------------------------------------------------------------------

    def check(self) -> None:
        """UsageError unless OUT can be a directory of results that other processes (the
        workers) can write (checked before anything is written; nothing is created)."""
        protocol = self.url.partition("://")[0] if "://" in self.url else ""
        if protocol in PROCESS_LOCAL_PROTOCOLS:
            raise UsageError(f"OUT {self.url}: {protocol}:// lives in one process's memory, so the workers' results "
                             "would be lost; give a directory or a shared URL (s3://, gs://, file://...)")  # fmt: skip
        if self.local is not None:
            probe = nearest_existing(self.local)
            if probe.exists() and not probe.is_dir():
                raise UsageError(f"OUT {self.url}: {probe} is a file, not a directory")
        else:
            fs, root = self.filesystem
            if fs.isfile(root):
                raise UsageError(f"OUT {self.url} is a file, not a directory")

    def prepare(self) -> None:
        """Create OUT (and check it is writable) right before the run."""
        if self.local is not None:
            prepare_directory(self.local, "OUT")
        else:
            fs, root = self.filesystem
            fs.makedirs(root, exist_ok=True)

    def names(self, folder: str = "") -> set[str]:
        """The names of the files and folders directly in OUT, or in its ``folder`` (empty
        if it does not exist)."""
        if self.local is not None:
            directory = self.local / folder
            return set(os.listdir(directory)) if directory.is_dir() else set()
        fs, root = self.filesystem
        try:
            return {entry.rstrip("/").rpartition("/")[2] for entry in fs.ls(join_url(root, folder) if folder else root,
                                                                             detail=False)}  # fmt: skip
        except FileNotFoundError:
            return set()

    def has(self, name: str) -> bool:
        """Whether ``name`` is in OUT, as this process sees it."""
        if self.local is not None:
            return (self.local / name).exists()
        fs, root = self.filesystem
        return fs.exists(join_url(root, name))

    def read_bytes(self, name: str) -> bytes:
        """The bytes of ``name`` (a path inside OUT); FileNotFoundError if it is not there."""
        if self.local is not None:
            return (self.local / name).read_bytes()
        fs, root = self.filesystem
        with fs.open(join_url(root, name), "rb") as handle:
            return handle.read()

    def read_text(self, name: str) -> str | None:
        try:
            if self.local is not None:
                return (self.local / name).read_text(encoding="utf-8")
            fs, root = self.filesystem
            with fs.open(join_url(root, name), "rb") as handle:
                return handle.read().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return ""  # unreadable: not a sidecar we wrote

    # --- writing -----------------------------------------------------------------------------

    def remove(self, name: str) -> None:
        """Remove a file or folder of an unfinished result (no sidecar: a killed writer's)."""
        import shutil

        if self.local is not None:
            path = self.local / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink()
            return
        fs, root = self.filesystem
        target = join_url(root, name)
        if fs.exists(target):
            fs.rm(target, recursive=True)

    def save(self, result, stem: str, format: str) -> list[str]:
        """Write ``result``'s files as ``stem.FORMAT``, its sidecar and exports (each file
        whole under its final name only, the sidecar last); their names or URLs."""
        return save_result_files_to_url(result, self.url, stem, format=format)

    def make_folder(self, name: str) -> None:
        """Create the folder ``name`` in OUT (object stores have folders implicitly)."""
        if self.local is not None:
            (self.local / name).mkdir(parents=True, exist_ok=True)

    def write_bytes(self, name: str, data: bytes) -> str:
        """Write ``name`` (a path inside OUT, its folder there) atomically, never replacing
        a file; its name or URL."""
        return write_bytes_to_url(self.display(name), data)

    def write_file(self, name: str, writer) -> str:
        """Write ``name`` with ``writer(temporary local path)``, then move (or upload) the
        finished file into place, never replacing one; its name or URL."""
        if self.local is not None:
            return str(write_with(self.local / name, writer))
        import tempfile
        from pathlib import Path

        fs, root = self.filesystem
        with tempfile.TemporaryDirectory(prefix="ganorama-upload-") as staging:
            local = Path(staging) / name.rpartition("/")[2]
            writer(local)
            put_file_atomic(fs, local, join_url(root, name))
        return self.display(name)

    def write_json(self, name: str, values: dict) -> str:
        """Write ``name`` as indented JSON, atomically, never replacing a file; its name or URL."""
        text = json.dumps(values, indent=2, allow_nan=False) + "\n"
        return self.write_bytes(name, text.encode("utf-8"))

    def remove_temporaries(self, folder: str = "") -> list[str]:
        """Remove killed writers' temporaries in OUT (or in its ``folder``)."""
        if self.local is not None and not (self.local / folder).is_dir():
            return []
        return remove_url_temporaries(join_url(self.url, folder) if folder else self.url)
