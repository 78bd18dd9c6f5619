"""Argument parsing shared by the subcommands, and the generating commands' one flow.

Nothing here imports torch at module level: ``ganorama --help``, a subcommand's
``--help`` and usage errors answer at once. The generating commands (panorama, bigimg,
texture, reproduce) turn their options into :class:`~ganorama.request.Request` values,
check everything that can be checked (values, output location, the model's
architecture, memory) before loading the model, then generate and save.
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys

from ganorama.request import AUTO, DEFAULTS, FIELDS, FORMATS, LAYOUT_NAMES, MAX_SEED, WRAPS, flag_label, parse_text


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2), with the close
    spelling of an unknown flag and a hint for negative values."""

    def error(self, message: str):  # type: ignore[override]
        message = self._with_hints(message)
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    def _with_hints(self, message: str) -> str:
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown and unknown.group(1).startswith("-"):
            suggestion = self._close_flag(unknown.group(1))
            if suggestion:
                return f"{message} (did you mean {suggestion}?)"
        if "expected one argument" in message:
            return f"{message}; for a negative value write it with =, e.g. --z_mul=-1"
        return message

    def _close_flag(self, flag: str) -> str | None:
        options = [option for action in self._actions for option in action.option_strings if option.startswith("--")]
        bare = flag.split("=", 1)[0].lstrip("-").replace("-", "_")
        # --width for --panorama_width: the typed word is a whole part of the real name.
        containing = [option for option in options if bare and bare in option.lstrip("-").split("_")[-1:]
                      or bare and option.endswith("_" + bare)]  # fmt: skip
        if containing:
            return min(containing, key=len)
        close = difflib.get_close_matches("--" + bare, options, n=1, cutoff=0.6)
        return close[0] if close else None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Descriptions (with their examples) kept as written; a default shown where there is
    one worth showing (not None or False) and the help does not already state it."""

    def __init__(self, prog, indent_increment=2, max_help_position=30, width=None):
        super().__init__(prog, indent_increment, max_help_position, width)

    def _get_help_string(self, action):
        help_text = action.help or ""
        if "default" in help_text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return help_text
        return help_text + " (default: %(default)s)"


def add_subparser(subparsers, name: str, **kwargs) -> ArgumentParser:
    """Add a subcommand whose parser is our one-line-error ArgumentParser."""
    kwargs["formatter_class"] = HelpFormatter
    return subparsers.add_parser(name, **kwargs)


def flag_names(name: str) -> list[str]:
    """``--seed_flag`` plus its dashed spelling ``--seed-flag`` when they differ."""
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    return names


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive whole number (>= 1)")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def field_type(name: str):
    """An argparse ``type`` that reads and checks a request field exactly as job rows and
    sidecars are checked (one validator per fact)."""
    from ganorama.errors import UsageError

    def convert(text: str):
        try:
            return FIELDS[name](parse_text(name, text), "value")
        except UsageError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("value ")) from None

    convert.__name__ = name  # argparse names the type in some messages
    return convert


# --- Ctrl-C --------------------------------------------------------------------------------------


class InterruptFlag:
    """A SIGINT handler that remembers the interrupt as well as raising KeyboardInterrupt.

    It never raises while a module is being imported: an extension module's import can
    call back into Python from C++ (torch's pybind11 registrations do), and an exception
    unwinding through that C++ aborts the whole process (seen: exit -6 instead of 130 when
    Ctrl-C landed in ``import torch``). Inside an import the interrupt is delivered again
    shortly, until the import is over. Some imports also swallow a KeyboardInterrupt
    outright (seen: numpy's under torch's), so :func:`raise_if_interrupted` at the run's
    checkpoints (every generator block, every save) stops the run anyway."""

    RETRY_SECONDS = 0.05

    def __init__(self):
        self.seen = False

    def __call__(self, signum, frame):
        self.seen = True
        if _inside_import(frame):
            self._deliver_again_later(signum)
            return
        raise KeyboardInterrupt

    def _deliver_again_later(self, signum: int) -> None:
        import _thread
        import threading

        # interrupt_main does nothing once SIGINT is ignored (after the clean exit began).
        retry = threading.Timer(self.RETRY_SECONDS, _thread.interrupt_main, args=(signum,))
        retry.daemon = True
        retry.start()

    @classmethod
    def install(cls) -> None:
        import signal

        # A SIGINT ignored by whoever started us (a background job) stays ignored.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, cls())


def _inside_import(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def raise_if_interrupted() -> None:
    import signal

    handler = signal.getsignal(signal.SIGINT)
    if isinstance(handler, InterruptFlag) and handler.seen:
        raise KeyboardInterrupt


# --- flags of the generating commands -----------------------------------------------------------

MODEL_CHOICES = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
DEFAULT_MODEL = "biggan-deep-256"


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("-m", *flag_names("biggan_model"), dest="biggan_model", default=None, choices=MODEL_CHOICES,
                       help=f"published BigGAN-deep model, downloaded once then cached (default: {DEFAULT_MODEL}; "
                            "with --weights: the architecture the weights must have)")  # fmt: skip
    group.add_argument("--weights", default=None, metavar="PATH|hf:OWNER/REPO",
                       help="load weights from a local directory/file (config.json + pytorch_model.bin or "
                            "model.safetensors) or a Hugging Face Hub repo instead of downloading -m")  # fmt: skip
    group.add_argument(*flag_names("model_dtype"), dest="model_dtype", default="auto",
                       choices=("auto", "float32", "float16", "bfloat16"), help="auto = float16 on CUDA, float32 on CPU")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling (the original tool's flags)")
    group.add_argument("-n", *flag_names("num_generations"), dest="num_generations", type=positive_int, default=1,
                       help="how many results to make")
    group.add_argument(*flag_names("class_names"), dest="class_names", default=None, metavar='"A|B|..."',
                       help="ImageNet classes separated by |; result k uses name k mod count. Each may be a "
                            "name, an id or a mix like 0.7*sandbar+0.3*valley (see: ganorama classes QUERY); "
                            "random classes when omitted")  # fmt: skip
    for name, help_text in (("z_mul", "multiply the noise vector (3 gives wild, abstract results); -1000 to 1000"),
                            ("class_mul", "multiply the class vector; -1000 to 1000"),
                            ("truncation", "noise truncation, 0 < t <= 1")):  # fmt: skip
        group.add_argument(*flag_names(name), dest=name, type=field_type(name), default=DEFAULTS[name],
                           metavar="X", help=help_text)
    group.add_argument(*flag_names("share_class"), dest="share_class", action="store_true",
                       help="without --class_names: one random class for all views instead of one per view")
    group.add_argument(*flag_names("no_share_z"), dest="no_share_z", action="store_true",
                       help="draw a separate noise vector per view instead of one shared by all views")
    group.add_argument(*flag_names("start_layer"), dest="start_layer", type=field_type("start_layer"), default=DEFAULTS["start_layer"],
                       metavar="I", help="first generator block whose output is synced (blocks count GenBlocks "
                                         "and the attention block)")  # fmt: skip
    group.add_argument(*flag_names("end_layer"), dest="end_layer", type=field_type("end_layer"), default=DEFAULTS["end_layer"],
                       metavar="J", help="sync blocks start_layer <= i < end_layer (a Python slice)")
    group.add_argument("--seed", type=field_type("seed"), default=None, metavar="S",
                       help=f"seed of result 0 (result k uses S+k), 0 to {MAX_SEED}; random and recorded in the "
                            "JSON when omitted")  # fmt: skip


def add_run_arguments(parser: argparse.ArgumentParser, multiple: bool = True, keep_recorded: bool = False) -> None:
    group = parser.add_argument_group("memory and progress")
    recorded = " (default: the chunking the sidecar records, so the bytes come out the same)" if keep_recorded else ""
    group.add_argument(*flag_names("max_views"), dest="max_views", type=field_type("max_views"),
                       default=None if keep_recorded else AUTO, metavar="N|auto",
                       help="views run through the generator at once outside the synced blocks: fewer use less "
                            "memory; auto derives it from the model and the device's total memory" + recorded)
    group.add_argument(*flag_names("memory_budget"), dest="memory_budget", type=field_type("memory_budget"),
                       default=None, metavar="SIZE", help="derive --max_views from a memory budget, e.g. 6GB")
    if multiple:
        group.add_argument("--batch", default="1", metavar="K|auto",
                           help="with -n: run K results (K x views) per forward where their canvases match; auto "
                                "takes as many as --max_views holds")  # fmt: skip
    group.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors: no progress bar, no "
                                                                  "list of the files written")


def add_output_arguments(group, kind: str) -> None:
    group.add_argument("-o", "--outdir", default=f"out/{kind}", metavar="DIR|FILE",
                       help=f"output directory; results are DIR/N.png with N the least unused number (default: "
                            f"out/{kind}). With -n 1 it may also be a file name, e.g. mypano.png")  # fmt: skip
    group.add_argument("--format", default=None, choices=FORMATS,
                       help="image format (default: from -o's suffix, else png)" +
                            ("; both carry GPano 360 metadata" if kind == "panorama" else ""))  # fmt: skip
    group.add_argument("--quality", type=field_type("quality"), default=DEFAULTS["quality"], help="JPEG quality 1-100")
    group.add_argument(*flag_names("save_views"), dest="save_views", action="store_true",
                       help=f"also write the raw {'views' if kind == 'panorama' else 'tiles'} as one contact sheet, "
                            "N_views.png")  # fmt: skip


def add_panorama_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("panorama")
    add_output_arguments(group, "panorama")
    group.add_argument(*flag_names("panorama_width"), dest="panorama_width", type=field_type("panorama_width"),
                       default=DEFAULTS["panorama_width"], metavar="W|auto",
                       help="equirect width in pixels (twice the height); auto = the views' own angular resolution "
                            "(about 4x the model's size)")  # fmt: skip
    group.add_argument(*flag_names("panorama_height"), dest="panorama_height", type=field_type("panorama_height"),
                       default=DEFAULTS["panorama_height"], metavar="H|auto", help="equirect height in pixels (half the width)")
    group.add_argument("--layout", default=DEFAULTS["layout"], metavar="|".join(LAYOUT_NAMES) + "|FILE.json",
                       help="camera layout: full = the original 16 views + zenith + nadir (covers the poles); "
                            "seed16 = the original 16 views; cube = 6 wide views; or a JSON list of views "
                            '[{"azimuth": 0, "elevation": 0, "roll": 0, "fov": 90}, ...] that must cover the sphere')
    group.add_argument(*flag_names("visualise_point_cloud"), dest="visualise_point_cloud", action="store_true",
                       help="show the views as a 3-D point cloud (needs open3d)")
    exports = parser.add_argument_group("exports (each also a command on an existing panorama)")
    exports.add_argument("--cubemap", action="store_true", help="also write a skybox: N_cubemap/{px,nx,py,ny,pz,nz,cross}")
    exports.add_argument("--viewer", action="store_true", help="also write N.html, an offline 360 viewer")
    exports.add_argument("--turntable", action="store_true", help="also write N_turntable.gif, a spinning globe")
    exports.add_argument("--mesh", action="store_true", help="also write N.glb, a textured sphere (glTF)")
    exports.add_argument("--displace", type=field_type("displace"), default=DEFAULTS["displace"], metavar="D",
                         help="colour-based displacement for --turntable/--mesh, -2 < D < 2, e.g. 0.1")
    exports.add_argument(*flag_names("export_point_cloud"), dest="export_point_cloud", action="store_true",
                         help="also write the views' 3-D points with their colours as N.ply")


def add_overlap_argument(group) -> None:
    group.add_argument("--overlap", type=field_type("overlap"), default=DEFAULTS["overlap"], metavar="F",
                       help="fraction of a tile shared with its neighbour, 0 <= F < 1; the step between tiles must "
                            "land on the synced feature grids (for the default blocks: multiples of 1/8)")


def add_bigimg_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("big image")
    add_output_arguments(group, "bigimg")
    group.add_argument(*flag_names("batch_size"), dest="batch_size", type=field_type("batch_size"), default=DEFAULTS["batch_size"],
                       metavar="COLS", help="tiles across; with --overlap 0.5 the image is (S/2)*(COLS+1) wide")
    group.add_argument("--rows", type=field_type("rows"), default=DEFAULTS["rows"], help="tiles down")
    add_overlap_argument(group)
    group.add_argument("--wrap", default=DEFAULTS["wrap"], choices=WRAPS,
                       help="join opposite edges so the image tiles: x = left/right, y = top/bottom, xy = both")
    group.add_argument("--morph", action="store_true",
                       help='blend the --class_names ("orange|lemon", two or more) from left to right across '
                            "each image instead of one class per image")  # fmt: skip


def add_texture_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("texture")
    add_output_arguments(group, "texture")
    group.add_argument("--size", type=field_type("size"), default=DEFAULTS["size"],
                       help="wanted side in pixels; the nearest whole number of tile steps is used")
    add_overlap_argument(group)


def add_generation_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    add_sampling_arguments(parser)
    add_model_arguments(parser)
    {"panorama": add_panorama_arguments, "bigimg": add_bigimg_arguments, "texture": add_texture_arguments}[kind](parser)
    add_run_arguments(parser)


# --- from options to requests ------------------------------------------------------------------


def request_template(args: argparse.Namespace, kind: str) -> dict:
    """The request fields the options give (classes and seed are per result)."""
    from ganorama.request import fields_for

    template = {"kind": kind}
    for name in fields_for(kind):
        if name in ("kind", "classes", "seed", "format"):
            continue
        template[name] = getattr(args, name)
    return template


def raise_usage(message: str):
    from ganorama.errors import UsageError

    raise UsageError(message)


# --- the flow -------------------------------------------------------------------------------------


def run_generation(args: argparse.Namespace, kind: str) -> int:
    """panorama / bigimg / texture: requests from the options, then :func:`generate_and_save`."""
    from ganorama.request import numbered_requests

    output = OutputTarget.from_args(args, kind, args.num_generations)
    template = request_template(args, kind)
    template["format"] = output.format
    requests = numbered_requests(template, args.num_generations, args.class_names, args.seed, label=flag_label)
    cycle = len(args.class_names.split("|")) if args.class_names else 1
    return generate_and_save(args, requests, args.num_generations, output, checked_count=cycle)


def generate_and_save(args: argparse.Namespace, requests, count: int, output: "OutputTarget",
                      checked_count: int = 1) -> int:  # fmt: skip
    """Check the requests, the output and the model's architecture and memory before
    loading the model, then generate, save (printing every file written) with progress.

    The first ``checked_count`` requests are built up front: with -n and "a|b|c" class
    names, the first cycle through the names holds every value the run will use."""
    from itertools import chain, islice

    requests = iter(requests)
    checked = list(islice(requests, max(1, min(checked_count, count))))
    for request in checked:
        output.check_request(request)
    batch = parse_batch(getattr(args, "batch", "1"))
    output.prepare()
    try:
        model_args = model_arguments(args)
        plan = check_before_loading(checked[0], model_args, batch)
        generator = load_generator(model_args)
        raise_if_interrupted()
        check_model_choice(model_args, generator.model.config)
        if plan is None:  # the architecture was unknown until loaded (a Hub repo)
            check_fits_now(generator.plan(checked[0]), generator.device)
        with Progress(count, quiet=args.quiet) as progress:
            results = generator.run_many(chain(checked, requests), batch=batch, on_progress=progress.update)
            for result in results:
                output.save(result, progress.write)
                progress.result_done()
                if getattr(args, "visualise_point_cloud", False):
                    from ganorama.export.pointcloud import show_views_point_cloud

                    show_views_point_cloud(result)
    finally:
        output.remove_if_empty()
    return 0


def parse_batch(text) -> int | str:
    if text == AUTO or isinstance(text, int):
        return text
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise_usage(f"--batch {text!r} is invalid; allowed: auto or a whole number >= 1")
    return value


def model_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The model options, checked: -m and --weights, device and dtype."""
    from ganorama.devices import resolve_device, resolve_dtype

    if args.weights is not None and not args.weights.strip():
        raise_usage("--weights is empty; give a checkpoint directory or file, or hf:OWNER/REPO (or leave it out)")
    device = resolve_device(args.device)
    return argparse.Namespace(biggan_model=args.biggan_model, weights=args.weights, device=device,
                              dtype=resolve_dtype(args.model_dtype, device))  # fmt: skip


def known_config(model_args: argparse.Namespace):
    """The model's architecture when it is known without loading weights (a published
    name or a local checkpoint directory), else None (a Hub repo: checked after loading)."""
    from pathlib import Path

    from ganorama.models.biggan import CONFIG_NAME, BigGANConfig
    from ganorama.models.weights import KNOWN_MODELS, local_checkpoint_dir

    source = (model_args.weights or model_args.biggan_model or DEFAULT_MODEL).strip()
    if source in KNOWN_MODELS:
        return BigGANConfig.preset(source)
    if source.startswith("hf:") or not Path(source).expanduser().exists():
        return None  # the loader gives the one-line error for a missing path
    return BigGANConfig.from_json_file(local_checkpoint_dir(source) / CONFIG_NAME)


def check_model_choice(model_args: argparse.Namespace, config) -> None:
    """-m together with --weights names the architecture the weights must have."""
    from ganorama.models.biggan import identify_model

    if model_args.weights is None or model_args.biggan_model is None or config is None:
        return
    found = identify_model(config)
    if found != model_args.biggan_model:
        what = found or f"a custom architecture ({config.output_dim} px, channel width {config.channel_width})"
        raise_usage(f"-m {model_args.biggan_model} does not match --weights {model_args.weights}, which holds "
                    f"{what}; leave out -m or give the matching model")


def check_before_loading(request, model_args: argparse.Namespace, batch):
    """Plan ``request`` against the architecture if it is known before loading: every
    model-dependent check and the memory check. Returns the plan, or None."""
    from ganorama.pipeline import plan_group

    config = known_config(model_args)
    if config is None:
        return None
    check_model_choice(model_args, config)
    plan = plan_group(request, config, model_args.device, model_args.dtype, batch, label=flag_label)
    check_fits_now(plan, model_args.device)
    return plan


def check_fits_now(plan, device) -> None:
    from ganorama.memory import check_fits

    check_fits(plan.memory, device)


def load_generator(model_args: argparse.Namespace):
    from ganorama.pipeline import Ganorama

    return Ganorama.from_pretrained(model_args.biggan_model or DEFAULT_MODEL, weights=model_args.weights,
                                    device=model_args.device, dtype=model_args.dtype)  # fmt: skip


# --- where results go -------------------------------------------------------------------------------


class OutputTarget:
    """-o: a directory of numbered results, or (one result) a file name."""

    def __init__(self, path, file_format: str | None, format: str, quiet: bool):
        from pathlib import Path

        self.path = Path(path)
        self.is_file = file_format is not None
        self.format = format
        self.quiet = quiet
        self.directory = self.path.parent if self.is_file else self.path
        self._created: list = []

    @classmethod
    def from_args(cls, args: argparse.Namespace, kind: str, count: int) -> "OutputTarget":
        from pathlib import Path

        from ganorama.outputs import format_from_suffix

        path = Path(args.outdir)
        file_format = format_from_suffix(path)
        if file_format and count > 1:
            raise_usage(f"-o {args.outdir} names one image file but -n {count} makes {count} results; give a "
                        "directory (results are DIR/N.png)")  # fmt: skip
        if file_format and args.format and args.format != file_format:
            raise_usage(f"--format {args.format} does not match -o {args.outdir}; use a .{args.format} name "
                        "or leave out --format")  # fmt: skip
        try:
            is_existing_file = path.exists() and not path.is_dir()
        except OSError as error:  # a name over 255 bytes, a loop of links...
            raise_usage(f"-o {args.outdir} cannot be used: {error.strerror or error}")
        if not file_format and is_existing_file:
            raise_usage(f"-o {args.outdir} is an existing file, not a directory; give a directory, or a new "
                        ".png/.jpg file name with -n 1")  # fmt: skip
        return cls(path, file_format, file_format or args.format or "png", args.quiet)

    def check_request(self, request) -> None:
        from ganorama.outputs import check_result_paths

        if self.is_file:
            check_result_paths(self.path, request.replace(format=self.format))

    def prepare(self) -> None:
        from ganorama.outputs import prepare_directory

        self._created = prepare_directory(self.directory, "-o")

    def save(self, result, report) -> None:
        from ganorama.outputs import save_numbered_result, save_result_files

        raise_if_interrupted()
        on_written = None if self.quiet else report
        if self.is_file:
            save_result_files(result, self.path, format=self.format, on_written=on_written)
        else:
            save_numbered_result(result, self.path, format=self.format, on_written=on_written)

    def remove_if_empty(self) -> None:
        """Remove the directories made for this run if nothing was written into them."""
        for directory in reversed(self._created):
            try:
                directory.rmdir()
            except OSError:
                break


# --- progress ---------------------------------------------------------------------------------------


class Progress:
    """One bar for the whole run on stderr, in results (fractions while one is made), shown
    when stderr is a terminal and the run takes over a second; ``write`` prints a line
    (a file written) without breaking the bar."""

    def __init__(self, results: int, quiet: bool = False):
        self.results = results
        self.quiet = quiet
        self._bar = None
        self._done = 0

    def __enter__(self) -> "Progress":
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.results, desc="generating", unit="result", delay=1.0, file=sys.stderr,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} [{elapsed}<{remaining}]")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, done: int, total: int, results: int) -> None:
        """``done`` of ``total`` steps of the forward now making ``results`` results."""
        raise_if_interrupted()
        self._advance_to(min(self.results, self._done + results * done / max(total, 1)))

    def result_done(self) -> None:
        self._done += 1
        self._advance_to(self._done)

    def _advance_to(self, position: float) -> None:
        # tqdm's own update() keeps its delay and refresh-rate rules.
        if self._bar is not None and position > self._bar.n:
            self._bar.update(position - self._bar.n)

    def write(self, path) -> None:
        try:
            # tqdm.write redraws the bar, so only once the bar is due (after its delay).
            if self._bar is not None and self._bar._time() - self._bar.start_t >= self._bar.delay:
                self._bar.write(str(path), file=sys.stdout)
            else:
                print(path, flush=True)
        except OSError as error:  # stdout is /dev/full or a closed pipe: the files themselves are safe
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # and no second error at exit
            print(f"ganorama: warning: cannot print to standard output ({error.strerror or error}); going on "
                  "without listing the files written", file=sys.stderr)  # fmt: skip
