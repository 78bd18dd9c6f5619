"""Ray: joining a cluster or starting a local one (quietly), spreading the rows over
workers (:func:`ray_plan`) and running them on Ray Data (:func:`run_on_ray`), with a
bounded number of retries for a task whose worker died and one line for Ray's errors."""
from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

from ganorama.batch.jobs import Row
from ganorama.batch.worker import RowStatus, WorkerModel, _RowWorker
from ganorama.destinations import Destination
from ganorama.errors import GanoramaError, UsageError, install_hint
from ganorama.request import AUTO

# Times a task whose worker died (killed, out of memory) is run again before its rows are
# reported failed: enough for a lost machine, not forever for a row that kills every worker.
TASK_RETRIES = 3
INSTALL_HINT = install_hint("ray")
# A local Ray's start-up, bounded (seconds; it normally takes 5-15 here).
RAY_START_TIMEOUT_S = 120.0
# The smallest object store Ray accepts (bytes).
RAY_MIN_OBJECT_STORE = 80 * 2**20
# Address space a Ray worker needs beyond its libraries and object store: the model and a
# chunk of views (bytes).
RAY_WORKER_ROOM = 256 * 2**20
# "[2026-12-07 23:15:53,381 C 16751 16761] (raylet) plasma_allocator.cc:79:  MESSAGE":
# a fatal (C) or error (E) line of Ray's C++ processes.
_RAY_FATAL_LINE = re.compile(r"^\[[^\]]* [CE] \d+ \d+\](?: \(\w+\))? [\w.]+:\d+:\s+(.*)$")


def require_ray():
    """Import Ray Data, or UsageError with the install command (one line)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        missing = getattr(error, "name", None)
        reason = "" if missing in ("ray", "ray.data") else f" ({str(error).splitlines()[0]})"
        raise UsageError(f"ganorama batch needs Ray: {INSTALL_HINT}{reason}") from None
    return ray


@dataclass
class RayPlan:
    """How the rows are spread: ``workers`` actors on ``device``, each with ``cpus`` CPUs
    and ``gpus`` GPUs, taking ``rows_per_task`` rows at a time."""

    device: str
    workers: int
    cpus: float
    gpus: float
    rows_per_task: int


def local_cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def start_ray(address: str | None = None, cpus: int | None = None, gpus: int | None = None):
    """Join the cluster at ``address`` ("auto", "HOST:PORT", "ray://HOST:PORT"), or start
    a local Ray on this machine's cores and GPUs; quiet (errors reach the user through
    the rows' statuses). Returns the ray module."""
    import logging
    import time

    ray = require_ray()
    if ray.is_initialized():
        return ray
    common = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    # Ray's C++ core logs a warning to this process's stderr for every Ray Data actor pool
    # (its constructor arguments live in the object store). Its processes log to files
    # anyway; the core announces the level it reads on stderr when ray.init starts it.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    if address:
        check_address(address)
        _check_reachable(address)
    what = f"cannot reach the Ray cluster at {address}" if address else "cannot start a local Ray"
    started, timeout = time.time(), _start_timeout()
    store = {} if address else _local_object_store()
    try:
        with _stderr_silenced() as stderr_fd, _startup_watchdog(what, stderr_fd, timeout, started):
            if address:
                ray.init(address=address, **common)
            else:
                ray.init(num_cpus=cpus or local_cpu_count(), num_gpus=gpus, include_dashboard=False,
                         **store, **common)  # fmt: skip
    except Exception as error:  # noqa: BLE001 - Ray's start-up faults, as one line
        cause = _root_cause(error) if str(error).strip() else type(error).__name__
        logged = _startup_fault_in_logs(started)
        raise GanoramaError(f"{what}: {cause}" + (f"; Ray's log says: {logged}" if logged else "")) from None
    if store:
        _check_a_worker_starts(ray, what, timeout)
    _quiet_ray_data()
    return ray


def _check_a_worker_starts(ray, what: str, timeout: float) -> None:
    """Under ``ulimit -v``, run one task that imports what a row's worker imports: a
    worker that cannot map its libraries fails its import, and Ray restarts it forever
    (with pages of tracebacks) instead of failing the rows. One line instead, bounded."""
    @ray.remote(max_retries=0)
    def imports() -> bool:
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
        import torch  # noqa: F401

        return True

    try:
        with _stderr_silenced():
            ray.get(imports.remote(), timeout=timeout)
    except Exception as error:  # noqa: BLE001 - Ray's faults, as one line
        cause = f"no worker started within {timeout:g} s" if isinstance(error, ray.exceptions.GetTimeoutError) \
            else _root_cause(error)  # fmt: skip
        with _stderr_silenced():
            ray.shutdown()
        raise GanoramaError(f"{what}: a Ray worker cannot start under ulimit -v: {cause}; raise the limit "
                            "(ulimit -v unlimited) or run the rows with ganorama panorama") from None


def _local_object_store() -> dict:
    """``object_store_memory`` for a local Ray under ``ulimit -v`` (RLIMIT_AS), which
    every Ray process maps whole: by default 30% of the machine's memory, which such a
    limit refuses (Ray's raylet then dies in a way ray.init reports only as a start-up
    timeout). A quarter of the room the limit leaves a process like this one, at least
    Ray's minimum; nothing without a limit. GanoramaError when the limit leaves a Ray
    worker no room at all (its workers would fail to import their libraries and be
    restarted forever)."""
    import resource

    import ray.data  # noqa: F401 - a worker maps what it maps (pyarrow reserves much address space)

    from ganorama.resources import address_space_room, format_bytes

    room = address_space_room()
    if room is None:
        return {}
    store = max(RAY_MIN_OBJECT_STORE, room // 4)
    if room - store < RAY_WORKER_ROOM:
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        raise GanoramaError(f"cannot start a local Ray under ulimit -v {limit // 1024} (KiB): a Ray worker maps about "
                            f"{format_bytes(limit - room)} for its libraries, plus at least "
                            f"{format_bytes(RAY_MIN_OBJECT_STORE + RAY_WORKER_ROOM)} for its object store and the "
                            "model; raise the limit, or run the rows with ganorama panorama")  # fmt: skip
    return {"object_store_memory": store}


# The watchdog of Ray's start-up, a process of its own: ray.init blocks in C++ holding
# the GIL, so no thread of the starting process runs until it returns. Past the timeout
# it writes the one line (with the cause from Ray's session logs), then stops the
# processes the starter made (Ray's GCS, raylet and helpers), which ends ray.init with an
# error (or Ray ends the process, status 1); if nothing ends it, it stops the starter.
_WATCHDOG = """
import os, select, signal, sys
starter, timeout, done, stderr, started = (int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]),
                                           int(sys.argv[4]), float(sys.argv[6]))
if select.select([done], [], [], timeout)[0]:
    sys.exit(0)
from ganorama.batch.cluster import _startup_fault_in_logs
logged = _startup_fault_in_logs(started)
os.write(stderr, (sys.argv[5] + (f"; Ray's log says: {logged}" if logged else "") + "\\n").encode())
for name in os.listdir("/proc"):
    try:
        if name.isdigit() and int(name) != os.getpid():
            with open(f"/proc/{name}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == starter:
                    os.kill(int(name), signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
if not select.select([done], [], [], 20)[0]:
    os.kill(starter, signal.SIGKILL)
"""


@contextlib.contextmanager
def _startup_watchdog(what: str, stderr_fd: int, timeout: float, started: float) -> Iterator[None]:
    """Bound the block (ray.init) to ``timeout`` seconds: see ``_WATCHDOG``. A start-up
    it had to end raises SystemExit(1): its line has been written."""
    import subprocess
    import sys
    import time

    done_read, done_write = os.pipe()
    line = f"ganorama batch: error: {what}: no answer within {timeout:g} s"
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), str(done_read),
                                 str(stderr_fd), line, str(started)], pass_fds=(done_read, stderr_fd),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(done_read)
    try:
        yield
    except Exception:
        if time.time() - started >= timeout:
            raise SystemExit(1) from None
        raise
    finally:
        os.close(done_write)  # the watchdog sees the pipe end and leaves
        with contextlib.suppress(subprocess.TimeoutExpired):
            watchdog.wait(timeout=5)


def _start_timeout() -> float:
    """How long a Ray start-up may take: ``GANORAMA_RAY_START_TIMEOUT`` seconds, else 120."""
    try:
        value = float(os.environ.get("GANORAMA_RAY_START_TIMEOUT", RAY_START_TIMEOUT_S))
    except ValueError:
        return RAY_START_TIMEOUT_S
    return value if value > 0 else RAY_START_TIMEOUT_S


def _startup_fault_in_logs(since: float | None = None) -> str:
    """The first fatal or error line Ray's own processes wrote to the newest session's
    logs (``RAY_TMPDIR`` or /tmp/ray; only a session started after ``since``), without
    its timestamp and source location; "" when there is none."""
    from pathlib import Path

    logs = Path(os.environ.get("RAY_TMPDIR", "/tmp/ray")) / "session_latest" / "logs"
    try:
        if since is not None and logs.stat().st_mtime < since - 1:
            return ""
    except OSError:
        return ""
    files = [logs / name for name in ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out")]
    for path in files + sorted(logs.glob("worker-*.err"))[:50]:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            match = _RAY_FATAL_LINE.match(line)
            if match:
                message = match.group(1)
                message = re.sub(r"An unexpected system state has occurred\..*?work with you to fix it\. ", "", message)
                return re.sub(r"\s+", " ", message).strip()[:240] + _address_space_hint(message)
    return ""


def _address_space_hint(message: str) -> str:
    """Why an mmap failed, when ``ulimit -v`` is the likely reason."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if "mmap" not in message or limit == resource.RLIM_INFINITY:
        return ""
    return (f" (ulimit -v allows {limit // 2**20} MiB a process: Ray's processes map shared memory and torch; "
            "raise the limit)")


def check_address(address: str) -> None:
    """UsageError unless ``address`` is "auto", HOST:PORT or ray://HOST:PORT with a port
    from 1 to 65535: a mistyped address is the user's, found before Ray is asked."""
    if address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"--address {address!r} is invalid; allowed: auto, HOST:PORT or ray://HOST:PORT with a "
                         "port from 1 to 65535")  # fmt: skip


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """GanoramaError at once if nothing listens at a HOST:PORT address (Ray itself keeps
    retrying for minutes); "auto" and ray:// addresses are left to Ray."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise GanoramaError(f"cannot reach the Ray cluster at {address}: {reason}; start one with "
                            "`ray start --head` or leave out --address to run here") from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[int]:
    """Point file descriptor 2 at /dev/null for the block: what Ray's C++ code and the
    processes ray.init starts write there bypasses Python. Failures still arrive as
    exceptions, and those processes keep their log files. Yields a descriptor of the
    real stderr."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield saved
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_ray_data() -> None:
    import logging

    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    for name in ("print_on_execution_start", "verbose_stats_logs", "enable_auto_log_stats"):
        if hasattr(context, name):
            setattr(context, name, False)
    # Ray Data logs a failed run's whole stack; the rows' statuses and summary.json carry
    # what the user needs (the failing row, its one-line error).
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


def ray_plan(ray, device: str, workers: int | None, batch, rows: int) -> RayPlan:
    """Workers and their resources: one per GPU on CUDA, else CPU workers sharing the
    cluster's cores (one by default: a forward already uses every core it is given)."""
    resources = ray.cluster_resources()
    total_cpus = max(1, int(resources.get("CPU", 1)))
    total_gpus = int(resources.get("GPU", 0))
    if device == AUTO:  # the cluster's GPUs if it has any (a driver without one may join it)
        device = "cuda" if total_gpus else "cpu"
    if device.startswith("cuda"):
        if total_gpus < 1:
            raise UsageError("--device cuda but the Ray cluster has no GPUs; use --device cpu")
        workers = workers or total_gpus
        cpus = 1.0
        gpus = 1.0
    else:
        workers = workers or 1
        cpus = float(max(1, total_cpus // workers))
        gpus = 0.0
    from ganorama.planning import MAX_AUTO_BATCH

    # A task's rows are the groups run_many may form (so their forwards match a single
    # run's with the same --batch); rows finished in it are written at once regardless.
    rows_per_task = batch if isinstance(batch, int) else MAX_AUTO_BATCH
    return RayPlan(device, max(1, min(workers, rows)), cpus, gpus, max(1, rows_per_task))


def run_on_ray(ray, tasks: Sequence[tuple[Row, range | None]], destination: Destination, model: WorkerModel, batch,
               plan: RayPlan, scores: bool = False, progress=None) -> Iterator[RowStatus]:  # fmt: skip
    """Run ``tasks`` on Ray Data, yielding each one's status as it returns: (row, None)
    makes a row's result, (video row, frames) that range of its frames. ``progress``: a
    Ray queue that the workers put each row's index (a frame's [index, frame]) in as they
    finish it."""
    import ray.data

    dataset = ray.data.from_items([row.to_record(frames) for row, frames in tasks],
                                  override_num_blocks=max(1, math.ceil(len(tasks) / plan.rows_per_task)))  # fmt: skip
    threads = None if plan.gpus else int(plan.cpus)
    model = replace(model, device=plan.device)
    statuses = dataset.map_batches(
        _RowWorker,
        fn_constructor_kwargs=dict(out=destination.url, model=model, batch=batch, threads=threads, scores=scores,
                                   progress=progress),
        batch_size=plan.rows_per_task,
        compute=ray.data.ActorPoolStrategy(size=plan.workers),
        num_cpus=plan.cpus,
        num_gpus=plan.gpus,
        batch_format="numpy",
        # Ray Data calls the worker from a thread of its own; with glibc's per-thread
        # arenas that thread's large blocks would all be fresh mmaps (measured: 2.0 s ->
        # 1.25 s a panorama at 128). One arena, set before the worker process starts.
        runtime_env={"env_vars": {"MALLOC_ARENA_MAX": "1"}},
        **_retry_limit(),
    )
    for record in statuses.iter_rows():
        yield RowStatus.from_record(record)


@contextlib.contextmanager
def rows_finished_feed(on_finished: Callable[[int], None] | None) -> Iterator[object]:
    """A Ray queue for the workers to put each finished row's index in, read by a thread
    of this process that calls ``on_finished(index)``; None (no queue) without a callback."""
    if on_finished is None:
        yield None
        return
    import threading

    from ray.util.queue import Empty, Queue

    queue = Queue()
    stop = threading.Event()

    def drain() -> None:
        while True:
            try:
                on_finished(queue.get(timeout=0.25))
            except Empty:
                if stop.is_set():
                    return
            except Exception:  # noqa: BLE001 - the queue's actor is gone (Ray stopping): the feed ends
                return

    reader = threading.Thread(target=drain, name="ganorama-rows-finished", daemon=True)
    reader.start()
    try:
        yield queue
    finally:
        stop.set()
        reader.join(timeout=5)
        with contextlib.suppress(Exception):
            queue.shutdown()


def _retry_limit() -> dict:
    """``max_task_retries`` for map_batches while Ray takes it (Ray Data's own default
    retries a task whose worker died forever, so a row that kills every worker, e.g. out
    of memory, would never end the run). Ray 2.60 announces its removal for 2.64."""
    import inspect
    import warnings

    import ray.data

    parameters = inspect.signature(ray.data.Dataset.map_batches).parameters.values()
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return {}
    warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated", module="ganorama")
    warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated", module="ray")
    return {"max_task_retries": TASK_RETRIES}


def _root_cause(error: BaseException) -> str:
    """One line from a Ray error, whose text is a remote traceback: its last line, which
    names the exception that ended the worker (our own errors by their message alone)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = lines[-1] if lines else type(error).__name__
    return re.sub(r"^ganorama\.errors\.\w+: ", "", last)[:300]
