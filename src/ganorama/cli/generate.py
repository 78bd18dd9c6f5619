"""The generating commands' one flow: options -> requests, everything checked before the
model loads (values, output location, the architecture, memory: the library's preflight),
then generate and save with progress. Torch is imported only once a command runs."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from ganorama.cli.interrupts import raise_if_interrupted
from ganorama.cli.parsing import parse_batch, raise_usage
from ganorama.cli.progress import Progress
from ganorama.cli.targets import OutputTarget
from ganorama.request import flag_label


def request_template(args: argparse.Namespace, kind: str) -> dict:
    """The request fields the options give (classes and seed are per result)."""
    from ganorama.request import fields_for, panorama_size

    template = {"kind": kind}
    for name in fields_for(kind):
        if name in ("kind", "classes", "seed", "format"):
            continue
        template[name] = getattr(args, name)
    if kind == "panorama":
        template["panorama_width"], template["panorama_height"] = panorama_size(args.panorama_width,
                                                                                args.panorama_height)
    return template


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
        # Plan before loading where the architecture is known: every check that needs it,
        # and the memory, answer at once; the plans and their canvases are then run.
        planner = planner_before_loading(model_args)
        first = planner.preflight(checked[0], batch, flag_label, count) if planner is not None else None
        with Progress(count, quiet=args.quiet) as progress:
            with progress.loading(Path(model_choice(model_args).source).name):
                generator = load_generator(model_args, planner)
            raise_if_interrupted()
            check_model_choice(model_args, generator.model.config)
            if first is None or generator.planner is not planner:  # known only now (a Hub repo)
                first = generator.planner.preflight(checked[0], batch, flag_label, count)
            warn_sharing_limits(first, args.quiet)
            plans = chain([first], (generator.planner.plan(request, flag_label)
                                    for request in chain(checked[1:], requests)))  # fmt: skip
            results = generator.run_many(plans, batch=batch, on_progress=progress.update)
            for result in results:
                with progress.saving():
                    output.save(result, progress.write)
                if getattr(args, "visualise_point_cloud", False):
                    from ganorama.export.pointcloud import show_views_point_cloud

                    show_views_point_cloud(result)
    finally:
        output.remove_if_empty()
    return 0


def warn_sharing_limits(plan, quiet: bool) -> None:
    """One line on stderr when the panorama is too large for a platform that shows 360 photos."""
    from ganorama.platforms import sharing_warning

    note = sharing_warning(plan.width, plan.height) if plan.request.kind == "panorama" else None
    if note and not quiet:
        print(note, file=sys.stderr)


def model_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The model options, checked: -m and --weights (or GANORAMA_WEIGHTS, or what a
    sidecar recorded: ``args.weights_from`` names it), device and dtype."""
    from ganorama.devices import resolve_device, resolve_dtype
    from ganorama.models.choice import WEIGHTS_FLAG, ModelChoice

    if args.weights is not None and not args.weights.strip():
        raise_usage("--weights is empty; give a checkpoint directory or file, or hf:OWNER/REPO (or leave it out)")
    weights_from = getattr(args, "weights_from", None)
    if weights_from is not None and args.weights is not None:
        choice = ModelChoice(args.biggan_model, args.weights, weights_from)
    else:
        choice = ModelChoice.from_options(args.biggan_model, args.weights)
    device = resolve_device(args.device)
    return argparse.Namespace(choice=choice, biggan_model=choice.model, weights=choice.weights,
                              weights_from=choice.weights_from if choice.weights else WEIGHTS_FLAG, device=device,
                              dtype=resolve_dtype(args.model_dtype, device))  # fmt: skip


def model_choice(model_args: argparse.Namespace):
    return model_args.choice


@contextlib.contextmanager
def told_where_weights_came_from(model_args: argparse.Namespace):
    """A failure to read weights that were not typed as --weights (GANORAMA_WEIGHTS, a
    sidecar's record) says where they came from, and that --weights overrides them."""
    from ganorama.errors import GanoramaError
    from ganorama.models.choice import WEIGHTS_FLAG

    choice = model_choice(model_args)
    try:
        yield
    except GanoramaError as error:
        if choice.weights is None or choice.weights_from == WEIGHTS_FLAG:
            raise
        raise type(error)(f"{choice.describe_weights()}: {error}; --weights DIR overrides them") from None


def known_config(model_args: argparse.Namespace):
    """The model's architecture when it is known without loading weights, else None."""
    with told_where_weights_came_from(model_args):
        return model_choice(model_args).known_config()


def check_model_choice(model_args: argparse.Namespace, config) -> None:
    """-m together with --weights names the architecture the weights must have."""
    model_choice(model_args).check_matches(config)


def planner_before_loading(model_args: argparse.Namespace):
    """A planner for the model when its architecture is known before loading (-m must
    match --weights), else None (a Hub repo: planned right after loading)."""
    from ganorama.planning import Planner

    config = known_config(model_args)
    if config is None:
        return None
    check_model_choice(model_args, config)
    return Planner(config, model_args.device, model_args.dtype)


def load_generator(model_args: argparse.Namespace, planner=None):
    from ganorama.pipeline import Ganorama

    choice = model_choice(model_args)
    with told_where_weights_came_from(model_args):
        return Ganorama.from_pretrained(choice.name, weights=choice.weights, device=model_args.device,
                                        dtype=model_args.dtype, planner=planner, flag_messages=True)  # fmt: skip
