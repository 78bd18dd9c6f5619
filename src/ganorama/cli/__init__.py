"""Command-line front end: ``ganorama SUBCOMMAND ...``.

Each subcommand lives in its own module with two functions, ``add_parser(subparsers)``
and ``run(args)``; this module only dispatches and turns library errors into one
line on stderr and an exit status (2 for usage errors, 1 for everything else).
"""
from __future__ import annotations

import importlib
import sys

from ganorama.cli.common import ArgumentParser
from ganorama.errors import GanoramaError, UsageError

# Module names under ganorama.cli, in the order --help lists them.
SUBCOMMANDS = (
    "panorama",
    "bigimg",
    "texture",
    "classes",
    "download",
    "convert",
    "cubemap",
    "view",
    "turntable",
    "mesh",
)


def build_parser(prog: str = "ganorama") -> ArgumentParser:
    from ganorama import __version__

    parser = ArgumentParser(
        prog=prog,
        description="Zero-shot 360° panoramas, seamless sphere textures and large images "
        "from pre-trained GANs (BigGAN-deep).",
    )
    parser.add_argument("--version", action="version", version=f"ganorama {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ganorama.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"ganorama.cli.{name}":
                continue  # subcommand not built yet
            raise
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog or "ganorama")
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    from ganorama.devices import tune_cpu_allocator

    tune_cpu_allocator()
    try:
        return int(args._run(args) or 0)
    except UsageError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except GanoramaError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ganorama: interrupted", file=sys.stderr)
        return 130
