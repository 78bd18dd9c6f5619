"""Shared helpers for the benchmarks: timing, memory, tables, JSON output."""
from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
# Random-weight checkpoint writers live with the tests (test-only dependency on the reference).
sys.path.insert(0, str(REPO / "tests"))


def rss_bytes() -> int:
    """This process's resident memory now (VmRSS)."""
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries the
    forking process's resident size into a child's ru_maxrss at exec, so a benchmark's
    child would report its parent's size when that is larger. Read here rather than from
    the package, so that a benchmark runs against an older version of it too."""
    return _status_bytes("VmHWM")


def _status_bytes(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(function: Callable[[], object], device: torch.device, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time in seconds of ``function()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def environment(device: torch.device) -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_format(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(_format(row.get(c)).ljust(widths[c]) for c in columns))


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def write_json(path: str | Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {path}")


def add_run_arguments(parser, json_default: str, repeats: int = 3) -> None:
    """The flags every benchmark takes: repeats, device, JSON path, allocator tuning."""
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=json_default)
    parser.add_argument("--no-malloc-tuning", action="store_true",
                        help="leave glibc malloc as it is (the CLI tunes it; see ganorama.devices)")


def prepare_run(args) -> tuple[torch.device, bool]:
    """The device to run on, and whether the CLI's allocator tuning was applied."""
    from ganorama.devices import tune_cpu_allocator

    return torch.device(args.device), (False if args.no_malloc_tuning else tune_cpu_allocator())
