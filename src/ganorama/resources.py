"""Will it fit? Memory and disk space, measured before any work is done.

Exporters and generating runs estimate what they need from the sizes they were asked
for (pure functions of those sizes: each exporter's ``*_bytes`` functions, and
:mod:`ganorama.memory` for generation), and refuse with one line
that says how much is needed and how much there is, instead of dying half-way with
``can't allocate memory`` or a full disk.

API (all sizes in bytes):

- :func:`memory_available` -> int: what this process may still allocate: MemAvailable
  from ``/proc/meminfo`` (``os.sysconf`` elsewhere), capped by a cgroup memory limit
  and by what ``ulimit -v`` (RLIMIT_AS) leaves.
- :func:`memory_total` -> int: physical memory (MemTotal), capped likewise.
- :func:`process_memory` -> int: this process's resident memory now (VmRSS), and
  :func:`peak_process_memory` -> int: its high-water mark (VmHWM).
- :func:`disk_free` (path) -> int: free bytes on the file system that would hold ``path``
  (it need not exist yet: its nearest existing ancestor is asked).
- :func:`check_memory` (needed, what) and :func:`check_disk` (needed, path, what):
  UsageError (one line) when ``needed`` exceeds what there is.
- :func:`format_bytes` (n) -> str: "1.5 GiB".
"""
from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

from ganorama.errors import UsageError

_CGROUP = Path("/sys/fs/cgroup")
# cgroup v1 spells "no limit" as a page-rounded 2**63 - 1.
_CGROUP_V1_UNLIMITED = 2**62
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_memory_size(text: str | int, name: str = "--memory_budget") -> int:
    """'6GB', '512MiB', '1.5g' or a number of bytes -> bytes (decimal units: 1 GB = 10^9 B)."""
    if isinstance(text, bool):
        raise UsageError(f"{name} {text!r} is not a memory size; use e.g. 6GB or 512MiB")
    if isinstance(text, int):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise UsageError(f"{name} {text!r} is not a memory size; use e.g. 6GB, 512MiB or 2.5GiB")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = value * _UNITS[unit]
    if not math.isfinite(size) or size < 1:
        raise UsageError(f"{name} {text!r} must be a positive memory size, e.g. 6GB")
    return int(size)


def format_bytes(count: float) -> str:
    """Bytes -> a short human-readable size: 512 B, 3.0 KiB, 1.5 GiB, 2.0 PiB, ..."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """``/proc/meminfo`` as {field: bytes}; empty where there is no such file."""
    fields: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as file:
            for line in file:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    fields[name] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return fields


def _cgroup_room() -> tuple[int | None, int | None]:
    """The cgroup's memory (limit, limit - current usage), v2 or else v1, or
    (None, None) without a limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):  # fmt: skip
        try:
            limit = (_CGROUP / limit_file).read_text().strip()
            if limit == "max":
                return None, None
            current = int((_CGROUP / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if int(limit) >= _CGROUP_V1_UNLIMITED:
            return None, None
        return int(limit), max(0, int(limit) - current)
    return None, None


def _sysconf(name: str) -> int | None:
    try:
        value = os.sysconf(name)
    except (ValueError, OSError, AttributeError):
        return None
    return value if value > 0 else None


def memory_total() -> int:
    """Physical memory in bytes (MemTotal), capped by a cgroup v2 memory limit."""
    total = _meminfo().get("MemTotal")
    if total is None:
        pages, page_size = _sysconf("SC_PHYS_PAGES"), _sysconf("SC_PAGE_SIZE")
        total = pages * page_size if pages and page_size else 0
    limit, _ = _cgroup_room()
    return min(total, limit) if limit is not None else total


def memory_available() -> int:
    """Bytes this process can still allocate without swapping: MemAvailable (or, where
    there is no /proc/meminfo, free pages from sysconf), capped by a cgroup memory limit
    (v2 or v1) and by the address space ``ulimit -v`` (RLIMIT_AS) leaves this process."""
    info = _meminfo()
    available = info.get("MemAvailable", info.get("MemFree"))
    if available is None:
        pages, page_size = _sysconf("SC_AVPHYS_PAGES"), _sysconf("SC_PAGE_SIZE")
        available = pages * page_size if pages and page_size else 0
    rooms = [_cgroup_room()[1], address_space_room()]
    return min([available, *(room for room in rooms if room is not None)])


def address_space_room() -> int | None:
    """What RLIMIT_AS (``ulimit -v``) still allows this process to map, or None without
    a limit: an allocation past it fails however much memory the machine has free."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        return None
    if limit == resource.RLIM_INFINITY:
        return None
    return max(0, limit - _status_field("VmSize"))


def _status_field(name: str) -> int:
    """A size from ``/proc/self/status`` (``VmRSS``, ``VmSize``) in bytes; 0 where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_memory() -> int:
    """This process's resident memory now (bytes): the interpreter, its libraries and
    whatever it holds; 0 where the system does not say."""
    return _status_field("VmRSS")


def peak_process_memory() -> int:
    """This process's peak resident memory so far (bytes): VmHWM, the high-water mark of
    its own memory. Not ``ru_maxrss``: Linux carries the forking process's resident size
    into a child's ru_maxrss at exec, so a child of a large process would report that."""
    peak = _status_field("VmHWM")
    if peak:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB where there is no /proc


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name too long for the file system: it cannot exist
        return False


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path`` itself if it exists, else its closest ancestor that does."""
    path = Path(os.path.abspath(path))
    while not _exists(path) and path != path.parent:
        path = path.parent
    return path


def disk_free(path: str | os.PathLike) -> int:
    """Free bytes (for this user) on the file system that holds or would hold ``path``."""
    return shutil.disk_usage(nearest_existing(path)).free


def check_memory(needed: int, what: str, available: int | None = None) -> None:
    """UsageError "WHAT needs about N of memory; M is available" when needed > available
    (``available`` defaults to :func:`memory_available`)."""
    available = memory_available() if available is None else available
    if needed > available:
        raise UsageError(
            f"{what} needs about {format_bytes(needed)} of memory; {format_bytes(available)} is available"
        )


def check_disk(needed: int, path: str | os.PathLike, what: str, free: int | None = None) -> None:
    """UsageError "WHAT needs about N of disk space; M is free on PATH's file system"
    when needed > free (``free`` defaults to :func:`disk_free` of ``path``)."""
    free = disk_free(path) if free is None else free
    if needed > free:
        raise UsageError(
            f"{what} needs about {format_bytes(needed)} of disk space; {format_bytes(free)} is free "
            f"where {path} would go"
        )
