"""``ganorama reproduce N.json``: make a result again from its JSON sidecar."""
from __future__ import annotations

import argparse

from ganorama.cli.flags import add_model_arguments, add_run_arguments
from ganorama.cli.generate import generate_and_save
from ganorama.cli.parsing import add_subparser
from ganorama.cli.targets import OutputTarget
from ganorama.request import FORMATS

DESCRIPTION = """\
Make a result again from the JSON sidecar written beside it: the same kind, classes,
seed, sampling, canvas, size, chunking and exports, with the same model (from the
sidecar's "weights" or "model", unless -m/--weights say otherwise) and, on the device
kind it was made on, its dtype (unless --model_dtype says otherwise). On the same machine
and device the image comes out byte for byte the same. Writes OUTDIR/N.png (never
overwriting) or the file named by -o. A video's sidecar (ganorama animate's) makes the
video again: the same walk on the same canvas, as -o FILE.mp4 (default
out/animation/NAME.mp4).

examples:
  ganorama reproduce out/panorama/3.json
  ganorama reproduce out/panorama/3.json -o again.png --weights ./biggan-deep-128
  ganorama reproduce walk.json -o walk-again.mp4
"""

def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_subparser(subparsers, "reproduce", help="make a result again from its JSON sidecar",
                                  description=DESCRIPTION)  # fmt: skip
    parser.add_argument("sidecar", metavar="SIDECAR", help="the N.json written beside a result")
    add_model_arguments(parser)
    group = parser.add_argument_group("output")
    group.add_argument("-o", "--outdir", default=None, metavar="DIR|FILE",
                       help="output directory or image file name (default: out/KIND, KIND from the sidecar)")
    group.add_argument("--format", default=None, choices=FORMATS, help="image format (default: the sidecar's)")
    add_run_arguments(parser, multiple=False, keep_recorded=True)
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.export.frames import ANIMATION_KIND
    from ganorama.formats import format_from_suffix, suffix_fits
    from ganorama.request import Request

    sidecar = read_sidecar(args.sidecar)
    if sidecar.get("kind") == ANIMATION_KIND:
        return reproduce_video(args, sidecar)
    request = with_chunking_asked(args, Request.from_sidecar(sidecar))
    use_recorded_model(args, sidecar)
    args.outdir = args.outdir or f"out/{request.kind}"
    # The sidecar's format, unless -o's suffix says another (a .png of a png16 result stays 16-bit).
    if args.format is None and (format_from_suffix(args.outdir) is None or suffix_fits(request.format, args.outdir)):
        args.format = request.format
    output = OutputTarget.from_args(args, request.kind, 1)
    return generate_and_save(args, [request.replace(format=output.format)], 1, output)


def reproduce_video(args: argparse.Namespace, sidecar: dict) -> int:
    """A video's sidecar (``ganorama animate``'s): the same walk on the same canvas, as
    -o FILE.mp4 or DIR/NAME.mp4 (default out/animation/NAME.mp4, NAME the sidecar's)."""
    from pathlib import Path

    from ganorama.cli.animate import render_video
    from ganorama.errors import UsageError
    from ganorama.request import Request
    from ganorama.walks import Walk

    if args.format is not None:
        raise UsageError(f"--format {args.format} does not apply to a video; a video is always an H.264 MP4")
    try:
        walk = Walk.from_dict(sidecar.get("walk"))
        request = Request.from_dict(sidecar.get("request"))
    except UsageError as error:
        raise UsageError(f"sidecar {args.sidecar}: {error}") from None
    request = with_chunking_asked(args, request)
    use_recorded_model(args, sidecar)
    output = Path(args.outdir or "out/animation")
    if output.suffix.lower() != ".mp4":
        output = output / (Path(args.sidecar).stem + ".mp4")
    args.output, args.frames_dir, args.batch = str(output), None, "1"
    return render_video(args, walk, request)


def with_chunking_asked(args: argparse.Namespace, request):
    """The sidecar's request with the chunking the options ask for, if they do: another
    chunking rounds differently in the last bits, allowed but on request only."""
    if args.max_views is None and args.memory_budget is None:
        return request
    return request.replace(max_views=args.max_views, memory_budget=args.memory_budget)


def use_recorded_model(args: argparse.Namespace, sidecar: dict) -> None:
    """The sidecar's weights (or model) and dtype, unless the options name others."""
    if args.weights is None and args.biggan_model is None:
        args.weights = sidecar.get("weights")
        args.weights_from = f"sidecar {args.sidecar}"
        if args.weights is None:
            args.biggan_model = sidecar.get("model")
    args.model_dtype = recorded_dtype(sidecar, args.model_dtype, args.device)


def recorded_dtype(sidecar: dict, model_dtype: str, device: str) -> str:
    """The dtype to reproduce in: the one asked for, or for ``auto`` the sidecar's when
    this run goes to the kind of device it was made on (auto's choice depends on the
    machine: bfloat16 on one CPU, float32 on another)."""
    from ganorama.devices import DTYPES, resolve_device

    recorded = sidecar.get("dtype")
    if model_dtype != "auto" or recorded not in DTYPES:
        return model_dtype
    return recorded if resolve_device(device).type == sidecar.get("device") else model_dtype


def read_sidecar(path: str) -> dict:
    from ganorama.errors import UsageError
    from ganorama.request import read_sidecar_file

    data = read_sidecar_file(path)
    if not isinstance(data, dict):
        raise UsageError(f"sidecar {path} is not a JSON object")
    for name in ("weights", "model"):  # what it was made with, used unless -m/--weights say otherwise
        value = data.get(name)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise UsageError(f"sidecar {path}: {name} {value!r} is not a model name or checkpoint path; fix the "
                             "sidecar or pass -m/--weights")
    return data
