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
    try:
        with _stderr_silenced():
            if address:
                ray.init(address=address, **common)
            else:
                ray.init(num_cpus=cpus or local_cpu_count(), num_gpus=gpus, include_dashboard=False, **common)
    except Exception as error:  # noqa: BLE001 - Ray's start-up faults, as one line
        what = f"cannot reach the Ray cluster at {address}" if address else "cannot start a local Ray"
        raise GanoramaError(f"{what}: {_root_cause(error) if str(error).strip() else type(error).__name__}") from None
    _quiet_ray_data()
    return ray


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
def _stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block: what Ray's C++ code and the
    processes ray.init starts write there bypasses Python. Failures still arrive as
    exceptions, and those processes keep their log files."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
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


def run_on_ray(ray, rows: Sequence[Row], destination: Destination, model: WorkerModel, batch, plan: RayPlan,
               progress=None) -> Iterator[RowStatus]:  # fmt: skip
    """Run ``rows`` on Ray Data, yielding each row's status as its task returns it;
    ``progress``: a Ray queue that the workers put each row's index in as they finish it."""
    import ray.data

    dataset = ray.data.from_items([row.to_record() for row in rows],
                                  override_num_blocks=max(1, math.ceil(len(rows) / plan.rows_per_task)))  # fmt: skip
    threads = None if plan.gpus else int(plan.cpus)
    model = replace(model, device=plan.device)
    statuses = dataset.map_batches(
        _RowWorker,
        fn_constructor_kwargs=dict(out=destination.url, model=model, batch=batch, threads=threads, progress=progress),
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
