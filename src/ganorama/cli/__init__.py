"""Command-line front end: ``ganorama COMMAND ...``.

Each command lives in its own module with two functions, ``add_parser(subparsers)`` and
``run(args)``; this module only dispatches and turns errors into one line on stderr and
an exit status: 2 for usage errors (a bad value, an output that exists), 1 for faults of
the environment (no network, a full disk), 130 for Ctrl-C. Building the parser imports
no torch, so --help and usage errors answer at once.
"""
from __future__ import annotations

import importlib
import sys

# Errors printed, one line each, when several are found at once (a job file's bad rows).
ERRORS_SHOWN = 20

# Module names under ganorama.cli, in the order --help lists them.
SUBCOMMANDS = (
    "panorama",
    "bigimg",
    "texture",
    "reproduce",
    "batch",
    "ui",
    "classes",
    "download",
    "convert",
    "cubemap",
    "skybox",
    "view",
    "turntable",
    "animate",
    "mesh",
    "score",
)


def build_parser(prog: str = "ganorama"):
    from ganorama import __version__
    from ganorama.cli.parsing import ArgumentParser, HelpFormatter

    parser = ArgumentParser(
        prog=prog,
        description="Zero-shot 360° panoramas, seamless sphere textures and large images "
        "from pre-trained GANs (BigGAN-deep).",
        epilog="Run 'ganorama COMMAND --help' for a command's options and examples.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ganorama {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ganorama.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"ganorama.cli.{name}":
                continue  # command not built yet
            raise
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run one command; returns the exit status (never raises but SystemExit from --help)."""
    command = "ganorama"
    try:
        from ganorama.cli.interrupts import InterruptFlag, raise_if_interrupted

        InterruptFlag.install()
        parser = build_parser(prog or "ganorama")
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            # The command's own parser names the flag and suggests the one meant.
            command_parser = _command_parser(parser, getattr(args, "command", None)) or parser
            command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if getattr(args, "_run", None) is None:
            parser.print_usage(sys.stderr)
            print(f"{parser.prog}: error: a command is required, e.g. {parser.prog} panorama "
                  f"(see {parser.prog} --help)", file=sys.stderr)  # fmt: skip
            return 2
        command = f"{parser.prog} {args.command}"
        from ganorama.devices import tune_cpu_allocator

        tune_cpu_allocator()
        status = int(args._run(args) or 0)
        raise_if_interrupted()
        return status
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean exit short
        print(f"{command}: interrupted; nothing partial was left behind", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every error the user can meet gets one line
        return _report(command, error)


def _command_parser(parser, command: str | None):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


def console_main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The process entry point (``ganorama``, ``python -m ganorama``, the original scripts):
    :func:`main`, then exit with its status.

    After Ctrl-C it leaves through ``os._exit``: CPython marks a KeyboardInterrupt as
    unhandled when it passes through code run with ``PyRun_String`` (as C extensions do
    while they import) and then, at exit, kills the process with SIGINT instead of
    returning our 130, even though the interrupt was handled (seen: exit -2 after our
    "interrupted" line, in about one run in ten interrupted during the torch import)."""
    import os
    import signal

    try:
        status = main(argv, prog)
        # Past this point the work is done or reported: a Ctrl-C in the interpreter's exit
        # would otherwise end the process by the signal, with no line.
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        if status != 130 and getattr(handler, "seen", False):  # one deferred while importing
            raise KeyboardInterrupt
    except KeyboardInterrupt:  # landed between main's last check and the line above
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"{prog or 'ganorama'}: interrupted; nothing partial was left behind", file=sys.stderr)
        status = 130
    if status == 130:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(130)
    sys.exit(status)


def _report(command: str, error: Exception) -> int:
    from ganorama.errors import GanoramaError, UsageError, UsageErrors

    if isinstance(error, UsageErrors):  # each in full, one line each, up to a cap
        shown = error.messages[:ERRORS_SHOWN]
        for message in shown:
            print(f"{command}: error: {message}", file=sys.stderr)
        if len(error.messages) > len(shown):
            print(f"{command}: error: ... and {len(error.messages) - len(shown)} more", file=sys.stderr)
        return 2
    if isinstance(error, UsageError):
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    if isinstance(error, GanoramaError):
        print(f"{command}: error: {error}", file=sys.stderr)
        return 1
    if isinstance(error, OSError):
        # A fault of the machine (disk full, permissions, I/O): the path and its meaning.
        where = f"{error.filename}: " if error.filename else ""
        print(f"{command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    if isinstance(error, MemoryError) or "can't allocate memory" in str(error) or "out of memory" in str(error):
        print(f"{command}: error: out of memory ({str(error).splitlines()[0][:160]}); lower --max_views or "
              "set --memory_budget", file=sys.stderr)  # fmt: skip
        return 1
    raise error
