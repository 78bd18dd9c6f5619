"""Many results from one job: ``ganorama batch`` as a library, on Ray.

A job is a list of :class:`Row` values, each a :class:`~ganorama.request.Request` plus a
stable output name (and, for a 360 video, a :class:`~ganorama.walks.Walk`), read from a job file (:func:`read_jobs`) or made from a template
(:func:`numbered_rows`) and all checked before anything runs. :func:`run_batch` runs the
rows not done yet on Ray Data: each worker loads the :class:`WorkerModel` once, runs its
rows with ``run_many`` (rows that share a canvas go through one forward) and writes
every result itself as soon as it is made, so a killed worker loses only the rows it was
making. Names come from the rows, never from a counter, so workers never collide and a
rerun finds what is done. OUT itself is a :class:`ganorama.destinations.Destination`.

One room per concern (submodules import each other directly, never this package):

- ``jobs``: Row, job files (JSONL/CSV) and their checks, ids, numbered rows, unique
  names, :func:`check_rows_with_model` (rows against the architecture)
- ``resume``: what is done already (recorded requests, :func:`request_differences`,
  :func:`plan_rows` / ``RowPlan``)
- ``worker``: one worker's work without Ray (:func:`process_rows`, grouping rows into
  forwards, failures as one line, ``RowStatus``), ``WorkerModel`` and the Ray Data
  worker class
- ``cluster``: Ray (:func:`require_ray`, ``start_ray``, ``ray_plan``, ``run_on_ray``,
  task retries, Ray's errors as one line, keeping Ray quiet)
- ``videos``: animate rows (360 videos): frame ranges as tasks, the frames folder, the
  encoding once every range is in (``VideoAssembly``)
- ``run``: the whole run (:func:`run_batch`) and its ``BatchSummary`` (summary.json)
"""
from __future__ import annotations

from ganorama.batch.cluster import check_address, require_ray
from ganorama.batch.jobs import (SUMMARY_NAME, Row, check_rows_with_model, numbered_rows, parse_jobs,
                                 read_jobs, rows_seconds_estimate)  # fmt: skip
from ganorama.batch.resume import plan_rows, request_differences
from ganorama.batch.run import BatchSummary, run_batch
from ganorama.batch.worker import RowStatus, WorkerModel, process_rows

__all__ = ["SUMMARY_NAME", "BatchSummary", "Row", "RowStatus", "WorkerModel", "check_address", "check_rows_with_model",
           "numbered_rows", "parse_jobs", "plan_rows", "process_rows", "read_jobs", "request_differences",
           "require_ray", "rows_seconds_estimate", "run_batch"]  # fmt: skip
