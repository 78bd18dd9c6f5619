"""Argument parsing shared by the subcommands: one-line usage errors with hints, help
that shows defaults, flag spellings, and argparse types that check a value exactly as the
request checks it. Torch-free: ``--help`` and usage errors answer at once."""
from __future__ import annotations

import argparse
import difflib
import re
import sys

from ganorama.request import AUTO, FIELDS, parse_text


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


def raise_usage(message: str):
    from ganorama.errors import UsageError

    raise UsageError(message)


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
