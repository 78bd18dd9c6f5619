"""``ganorama classes [QUERY]``: list or search the 1000 ImageNet classes, offline."""
from __future__ import annotations

import argparse
import os
import sys

from ganorama.cli.parsing import ArgumentParser, add_subparser, positive_int

DESCRIPTION = """\
List the 1000 ImageNet classes BigGAN can draw, or search them by id, name or words of
their definitions (case-insensitive; spaces, hyphens and underscores are interchangeable).
Any name printed here works in --class_names, alone or in a weighted mix."""

EPILOG = """\
examples:
  ganorama classes                  all 1000 classes, one "ID  names" line each
  ganorama classes sandbar          class 977 with its definition, then related classes
  ganorama classes 977              the same, by id
  ganorama classes shore            names containing "shore", then definitions mentioning it
  ganorama classes "coral reef"     quote names with spaces (or write coral_reef)
  ganorama classes snake --limit 5  the five best matches

using the names:
  ganorama panorama --class_names "sandbar|valley"
  ganorama panorama --class_names "0.7*sandbar+0.3*valley"

A query matching nothing exits with status 2 and suggests close spellings."""


# Related classes listed after a class named exactly.
RELATED_SHOWN = 8


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers,
        "classes",
        help="list or search the 1000 ImageNet class names and ids",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # nothing has a default worth showing
    )
    parser.add_argument("query", metavar="QUERY", nargs="?", default=None,
                        help="a class id, a name, or words to look for in names and definitions; "
                             "omit to list every class")
    parser.add_argument("--limit", "-n", type=positive_int, default=None, metavar="N",
                        help="print at most N classes (default: all)")
    return parser


def _line(class_id: int) -> str:
    from ganorama.models.imagenet import class_names

    return f"{class_id:>5}  {', '.join(class_names(class_id))}"


def _details(class_id: int) -> list[str]:
    """The class line plus its definition and WordNet id, aligned under the names."""
    from ganorama.models.imagenet import definition, wordnet_id

    indent = " " * 7
    return [_line(class_id), f"{indent}{definition(class_id)}", f"{indent}WordNet {wordnet_id(class_id)}"]


def _query_lines(query: str, limit: int | None) -> list[str]:
    from ganorama.errors import UsageError
    from ganorama.models.imagenet import (
        NUM_CLASSES,
        exact_matches,
        lookup,
        related_classes,
        search,
        unknown_class_message,
    )

    matches = search(query, limit)
    if not matches:
        if query.strip().lstrip("+-").isdecimal():
            lookup(query)  # an out-of-range id: lookup's message names the allowed range
        raise UsageError(unknown_class_message(query, hint=f"list all {NUM_CLASSES} with: ganorama classes"))
    exact = [class_id for class_id in exact_matches(query) if class_id in matches]
    others = [class_id for class_id in matches if class_id not in exact]
    lines = [line for class_id in exact for line in _details(class_id)]
    if exact and others:
        lines += ["", "other matches:"]
    lines += [_line(class_id) for class_id in others]
    shown = RELATED_SHOWN if limit is None else min(limit, RELATED_SHOWN)
    related = [class_id for exact_id in exact for class_id in related_classes(exact_id, shown)
               if class_id not in matches]  # fmt: skip
    if related:
        lines += ["", "related classes:", *(_line(class_id) for class_id in dict.fromkeys(related))]
    return lines


def run(args: argparse.Namespace) -> int:
    from ganorama.models.imagenet import NUM_CLASSES

    if args.query is None:
        lines = [_line(class_id) for class_id in range(NUM_CLASSES)][: args.limit]
    else:
        lines = _query_lines(args.query, args.limit)
    try:
        print("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:
        # `ganorama classes | head` closed the pipe early: that is success, not a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
