"""``ganorama batch JOBS OUT``: thousands of results from a job file, on Ray (a thin layer
over :mod:`ganorama.batch`)."""
from __future__ import annotations

import argparse
import sys
import threading

from ganorama.cli.flags import add_model_arguments
from ganorama.cli.generate import check_model_choice, known_config, model_arguments, model_choice
from ganorama.cli.parsing import add_subparser, field_type, flag_names, parse_batch, positive_int, raise_usage
from ganorama.request import FIELD_HELP, FIELD_KINDS, FIELD_TYPES, FIELDS, KINDS, MAX_SEED, flag_label
from ganorama.walks import MAX_DEFAULT_FRAMES_PER_TASK, RANGES_PER_WORKER

DESCRIPTION = """\
Make many results, one per row of a job file, on Ray: locally on this machine's cores
or GPUs (the default), or on an existing Ray cluster (--address). Every row is checked
before anything runs; a bad row is reported with its line number (exit status 2).

JOBS is a JSONL file (one JSON object per line) or a .csv file (a header of field
names). A row's fields are the generating commands' option names: kind (panorama,
bigimg, texture, or animate: see below), classes (a name, an id or a mix), seed, and any sampling, size,
format or export option (truncation, z_mul, panorama_width, layout, rows, overlap,
size, cubemap, viewer, ...), plus an optional id that names the row's files. Options
given on this command line fill the fields a row leaves out.

  jobs.jsonl:
    {"kind": "panorama", "classes": "sandbar", "seed": 1}
    {"kind": "panorama", "classes": "0.7*sandbar+0.3*valley", "seed": 2, "truncation": 0.4, "viewer": true}
    {"id": "wall", "kind": "bigimg", "classes": 970, "seed": 3, "batch_size": 8, "wrap": "x"}
    {"kind": "texture", "classes": "coral reef", "seed": 4, "size": 384}
  jobs.csv:
    id,kind,classes,seed,truncation
    beach,panorama,sandbar,1,0.4
    ,texture,lakeside,2,

A row of kind animate is a 360 video (what ganorama animate makes): its walk's fields
(classes "a|b|c" with a seed, or keyframes as a list of {"classes", "seed", "z_mul",
"truncation"} objects; frames or seconds; fps, loop, easing) and any per-frame panorama
field. Its frames are spread over the workers in ranges of --frames_per_task frames,
kept as OUT/ID.frames/000000.png... (the layout of ganorama animate --frames_dir), and
encoded here into OUT/ID.mp4 (H.264 with spherical metadata) and OUT/ID.json once every
frame is there; a rerun makes only the missing frames.
    {"id": "loop10", "kind": "animate", "classes": "valley|sandbar|coral reef", "seed": 3, "seconds": 10, "fps": 24, "loop": true}

OUT is a directory or an fsspec URL (s3://bucket/run, gs://..., file://...). Row k writes
OUT/row-00000k.png (or OUT/ID.png) with its JSON sidecar and exports, each file written
atomically, and prints each file as its row finishes; OUT/summary.json lists the rows
done, skipped and failed (with each error). Run the same command again to resume: rows
whose sidecar is complete are skipped, and the rerun's summary is summary-2.json (then
-3, ...): none is replaced.
Without JOBS, --count N makes N rows from the options (row k: seed --base_seed + k).

examples:
  ganorama batch jobs.jsonl out/wide -m biggan-deep-128 --panorama_width 1024 --panorama_height 512
  ganorama batch --count 8 --base_seed 100 --class_names "sandbar|valley" out/run3 --batch auto
  ganorama batch jobs.csv s3://my-bucket/panos --address auto      # on a running Ray cluster
  ganorama batch videos.jsonl out/videos --workers 2 --frames_per_task 6
"""

# argparse default for the request flags: "not given", so that a row's own value wins.
UNSET = argparse.SUPPRESS

# How a row field's help names the kinds that take it.
KIND_WORDS = {"panorama": "panorama", "bigimg": "big image", "texture": "texture"}


def row_field_help(name: str) -> str:
    """A request field's own help, said of the rows whose kind takes it."""
    kinds = FIELD_KINDS[name]
    takers = "" if kinds == KINDS else " / ".join(KIND_WORDS[kind] for kind in kinds) + ": "
    return takers + FIELD_HELP[name]


# Failed rows printed at the end (all of them are in summary.json).
FAILURES_SHOWN = 10
# From this many rows the pre-flight checks take long enough to announce.
PREFLIGHT_NOTICE_ROWS = 10_000


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_subparser(subparsers, "batch", help="many results from a job file, on Ray",
                                  description=DESCRIPTION)  # fmt: skip
    parser.add_argument("jobs", nargs="?", metavar="JOBS", help="job file: .jsonl (one JSON object per line) or .csv")
    parser.add_argument("out", nargs="?", metavar="OUT", help="output directory or fsspec URL")
    rows = parser.add_argument_group("rows without a job file")
    rows.add_argument("--count", type=positive_int, default=None, metavar="N", help="make N rows from the options")
    rows.add_argument(*flag_names("base_seed"), dest="base_seed", type=field_type("seed"), default=None,
                      metavar="S", help=f"row k uses seed S+k, 0 to {MAX_SEED} (random when omitted)")
    rows.add_argument(*flag_names("class_names"), dest="class_names", default=None, metavar='"A|B|..."',
                      help="row k uses class name k mod count (names, ids or mixes); random classes when omitted")
    rows.add_argument("--kind", choices=KINDS, default=UNSET, help="what each row makes (default: panorama)")
    fields = parser.add_argument_group("row fields (fill what a row leaves out; see JOBS above)")
    for name in FIELDS:
        if name in ("kind", "classes", "seed"):
            continue
        if FIELD_TYPES[name] is bool:
            fields.add_argument(*flag_names(name), dest=name, action="store_true", default=UNSET,
                                help=row_field_help(name))  # fmt: skip
        else:
            fields.add_argument(*flag_names(name), dest=name, type=field_type(name), default=UNSET,
                                metavar=name.upper(), help=row_field_help(name))  # fmt: skip
    add_model_arguments(parser)
    run = parser.add_argument_group("running")
    run.add_argument("--workers", type=positive_int, default=None, metavar="N",
                     help="Ray workers, each loading the model once (default: one per GPU; on CPUs one, using "
                          "every core)")  # fmt: skip
    run.add_argument("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                     help="join this Ray cluster instead of starting a local Ray (auto: the one `ray start` made "
                          "here); ganorama must be installed on its nodes and --weights readable there")  # fmt: skip
    run.add_argument("--batch", default="1", metavar="K|auto",
                     help="rows per forward where their canvases match (auto: as many as --max_views holds)")
    run.add_argument("--frames_per_task", "--frames-per-task", type=positive_int, default=None, metavar="N",
                     help="frames of an animate row per Ray task (default: each worker gets about "
                          f"{RANGES_PER_WORKER} ranges of a video, at most {MAX_DEFAULT_FRAMES_PER_TASK} frames each)")  # fmt: skip
    run.add_argument("--scores", action="store_true",
                     help="add each panorama's seam and pole scores (see ganorama score) to summary.json")
    run.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors (no progress bar)")
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama import batch as batch_lib
    from ganorama.destinations import Destination

    batch_lib.require_ray()  # before anything slow: without the extra, say how to get it
    if args.address is not None:
        batch_lib.check_address(args.address)
    rows = read_rows(args)
    if any(row.walk is not None for row in rows):
        from ganorama.export.animation import require_imageio_ffmpeg

        require_imageio_ffmpeg()  # this machine encodes the videos
    destination = Destination(args.out)
    destination.check()
    batch = parse_batch(args.batch)
    local = args.address is None
    model_args = model_arguments(args if local else _driver_side(args))
    if len(rows) >= PREFLIGHT_NOTICE_ROWS and not args.quiet:
        # The checks take about 5 s per 100,000 rows on 2 cores: say why nothing moves yet.
        print(f"checking {len(rows):,} rows before anything runs...", file=sys.stderr, flush=True)
    plans = check_with_model(rows, model_args, batch, check_memory=local)
    check_video_disk(rows, destination, model_args)
    todo = batch_lib.plan_rows(rows, destination).todo  # a changed job meeting its old results: exit 2 now, not later
    # Said once Ray is up: a start that fails stays the one line.
    estimate = estimate_line(todo, plans, destination, model_args) if local and plans and todo and not args.quiet else None
    choice = model_choice(model_args)
    if local and (choice.weights is None or choice.weights.startswith("hf:")):
        fetch_weights(choice.source)
    model = batch_lib.WorkerModel(choice,
                                  device=model_args.device.type if local else args.device,
                                  dtype=str(model_args.dtype).removeprefix("torch.") if local else args.model_dtype)
    videos = any(row.walk is not None for row in rows)
    with BatchProgress(sum(row.units for row in rows), quiet=args.quiet, rows=len(rows),
                       unit="frames and results" if videos else "rows", estimate=estimate) as progress:  # fmt: skip
        try:
            summary = batch_lib.run_batch(rows, destination, model, batch=batch, workers=args.workers,
                                          address=args.address, on_status=progress.row_finished,
                                          on_start=progress.start, on_row_finished=progress.row_written,
                                          scores=args.scores, frames_per_task=args.frames_per_task)  # fmt: skip
        except KeyboardInterrupt:
            # The workers are stopped now (run_batch shut Ray down): what OUT holds is final.
            progress.interrupted(len(batch_lib.plan_rows(rows, destination).done), destination.url)
            raise
    for status in summary.failed[:FAILURES_SHOWN]:
        print(f"{status.where} ({status.name}): {status.error}", file=sys.stderr)
    if len(summary.failed) > FAILURES_SHOWN:
        print(f"... and {len(summary.failed) - FAILURES_SHOWN} more failed rows", file=sys.stderr)
    if not args.quiet:
        print(f"{len(summary.done)} done, {len(summary.skipped)} skipped, {len(summary.failed)} failed in "
              f"{summary.seconds:.1f} s ({summary.results_per_second:.2f} results/s); "
              f"{destination.display(summary.summary_name)}")  # fmt: skip
    if summary.failed:
        from ganorama.errors import GanoramaError

        raise GanoramaError(f"{len(summary.failed)} of {summary.total} rows failed; see "
                            f"{destination.display(summary.summary_name)}")  # fmt: skip
    return 0


def read_rows(args: argparse.Namespace):
    """The job's rows, every one checked: from JOBS, or from the options with --count."""
    from ganorama import batch as batch_lib

    defaults = {name: getattr(args, name) for name in ("kind", *FIELDS) if hasattr(args, name)}
    if args.count is not None:
        if args.out is None and args.jobs is not None:
            args.jobs, args.out = None, args.jobs
        if args.jobs is not None:
            raise_usage(f"give a job file or --count, not both (got JOBS {args.jobs} and --count {args.count})")
        if args.out is None:
            raise_usage("OUT is missing: ganorama batch --count N [options] OUT")
        template = {"kind": "panorama", **defaults}
        return batch_lib.numbered_rows(template, args.count, args.class_names, args.base_seed, label=flag_label)
    if args.jobs is None:
        raise_usage("JOBS and OUT are missing: ganorama batch JOBS OUT (or --count N OUT); see --help")
    if args.out is None:
        raise_usage(f"OUT is missing: ganorama batch {args.jobs} OUT (a directory or fsspec URL)")
    for name in ("base_seed", "class_names"):
        if getattr(args, name) is not None:
            raise_usage(f"--{name} goes with --count; in a job file give each row its seed and classes")
    rows = batch_lib.read_jobs(args.jobs, defaults)
    check_flags_apply(defaults, rows, args.jobs)
    return rows


def check_flags_apply(defaults: dict, rows, jobs: str) -> None:
    """A flag that no row's kind takes (--size with only panoramas) is a mistake, not a
    default: say so rather than ignore it."""
    from ganorama.batch.jobs import ANIMATE_KIND, ROW_KINDS, row_fields

    kinds = {ANIMATE_KIND if row.walk is not None else row.request.kind for row in rows}
    for name in defaults:
        if name != "kind" and not any(name in row_fields(kind) for kind in kinds):
            takers = [kind for kind in ROW_KINDS if name in row_fields(kind)]
            raise_usage(f"--{name} applies to {' and '.join(takers)} rows; {jobs} has only "
                               f"{' and '.join(sorted(kinds))} rows")  # fmt: skip


def check_with_model(rows, model_args, batch, check_memory: bool) -> dict | None:
    """Every row against the model's architecture (and, running here, this machine's
    memory) before Ray starts, where the architecture is known without loading: each
    row's plan by row index, or None (a Hub repo: its rows are checked when the workers
    load it)."""
    from ganorama import batch as batch_lib

    config = known_config(model_args)
    if config is None:
        return None
    check_model_choice(model_args, config)
    device = model_args.device if check_memory else "cpu"
    return batch_lib.check_rows_with_model(rows, config, device, model_args.dtype, batch, check_memory=check_memory)


def estimate_line(rows, plans, destination, model_args) -> str:
    """About how long the rows to make (a video's missing frames) will take on this
    machine, from their ``plans`` (by row index), as the line the run says."""
    from ganorama import batch as batch_lib
    from ganorama.batch.resume import missing_frames
    from ganorama.cli.progress import estimate_text

    seconds = batch_lib.rows_seconds_estimate(rows, plans, known_config(model_args), model_args.device,
                                              model_args.dtype,
                                              lambda row: 1 if row.walk is None else len(missing_frames(destination, row)))
    said = estimate_text(seconds, f"of generation for {len(rows):,} rows", model_args.device, model_args.dtype)
    return (f"batch: {said}, besides Ray's start and each worker's model load (estimated from the model's FLOPs "
            "and a quick matmul)")  # fmt: skip


def check_video_disk(rows, destination, model_args) -> None:
    """Room in a local OUT for the animate rows' missing frames and their videos, before
    Ray starts (an object store's room is not known here)."""
    if destination.local is None or not any(row.walk is not None for row in rows):
        return
    config = known_config(model_args)
    if config is None:
        return  # a Hub repo: the sizes an auto width takes are known once it loads
    import torch

    from ganorama.batch.videos import videos_disk_bytes
    from ganorama.planning import Planner
    from ganorama.resources import check_disk

    planner = Planner(config, torch.device("cpu"), torch.float32)  # the sizes only: no memory is planned
    check_disk(videos_disk_bytes(rows, destination, planner), destination.local, "the videos' frames and files")


def fetch_weights(name: str) -> None:
    """Download a published model (or hf: repo) once, here, before the workers start: they
    all find it in the cache instead of racing to download it, and a network or cache
    fault is one line now rather than one per worker."""
    from ganorama.models.weights import download

    download(name)


def _driver_side(args: argparse.Namespace) -> argparse.Namespace:
    """The model options as this machine checks them when the workers run on a cluster:
    the device and dtype are the workers' (auto resolves there), so check on the CPU."""
    if args.device not in ("auto", "cpu", "cuda"):
        raise_usage(f"--device {args.device} is invalid with --address; allowed: auto, cpu, cuda (Ray gives "
                           "each worker its own GPU)")  # fmt: skip
    dtype = "float32" if args.model_dtype == "auto" else args.model_dtype
    return argparse.Namespace(**{**vars(args), "device": "cpu", "model_dtype": dtype})


class BatchProgress:
    """What a run shows as rows finish: every file a row wrote, on stdout; and on stderr
    a bar of rows finished out of all rows with the rate (on a terminal), else one line
    per finished row, so a log shows the run moving. A row counts once, as soon as its
    worker announces it (:meth:`row_written`) or its task returns it (:meth:`row_finished`)."""

    def __init__(self, total: int, quiet: bool = False, rows: int | None = None, unit: str = "rows",
                 estimate: str | None = None):  # fmt: skip
        self.total = total  # in units: a result, or a video's frame
        self.estimate = estimate  # said once the run starts
        self.rows = total if rows is None else rows
        self.unit = unit
        self.quiet = quiet
        self._bar = None
        self._before = 0  # rows done before this run
        self._counted: set[int] = set()
        self._lock = threading.Lock()  # row_written comes from the run's feed thread

    def __enter__(self) -> "BatchProgress":
        return self

    def start(self, to_make: int, already_done: int) -> None:
        self._before = already_done
        if self.quiet:
            return
        if self.estimate:
            print(self.estimate, file=sys.stderr, flush=True)
        if not sys.stderr.isatty():
            print(f"batch: {to_make} {self.unit} to make ({already_done} of {self.total} done before)",
                  file=sys.stderr, flush=True)  # fmt: skip
            return
        from tqdm import tqdm

        self._bar = tqdm(total=self.total, initial=already_done, desc="batch", unit="result", file=sys.stderr,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} " + self.unit + " "
                                    "[{elapsed}<{remaining}, {rate_fmt}]")  # fmt: skip

    def row_written(self, key) -> None:
        """A worker has finished row ``key`` (its index) or a video's frame (``[index,
        frame]``): it counts now, before its task returns."""
        self._count(tuple(key) if isinstance(key, list) else key)

    def row_finished(self, status) -> None:
        """Row ``status.index`` as its task returned it (a video once encoded: its frames
        counted as they were made): its files are listed."""
        if not self.quiet:
            for name in status.files:
                if self._bar is not None:
                    self._bar.write(name, file=sys.stdout)
                else:
                    print(name, flush=True)
        if not status.video:
            self._count(status.index)

    def interrupted(self, done: int, where: str) -> None:
        """The run was stopped with ``done`` rows complete in OUT (``where``), counted
        there once the workers stopped: the bar and the last line say what is on disk."""
        with self._lock:
            if self._bar is not None and done > self._bar.n:
                self._bar.update(done - self._bar.n)
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if not self.quiet:
            print(f"batch: {done} of {self.rows} rows are done in {where}; run the same command again to make the "
                  f"other {self.rows - done}", file=sys.stderr, flush=True)  # fmt: skip

    def _count(self, index: int) -> None:
        with self._lock:
            if index in self._counted:
                return
            self._counted.add(index)
            if self._bar is not None:
                self._bar.update(1)
            elif not self.quiet:
                print(f"batch: {self._before + len(self._counted)}/{self.total} {self.unit}", file=sys.stderr,
                      flush=True)  # fmt: skip

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
