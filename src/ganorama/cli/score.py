"""``ganorama score PANO... [--json FILE]``: seam and pole measures of equirect panoramas."""
from __future__ import annotations

import argparse
import json

from ganorama.cli.parsing import ArgumentParser, add_subparser

DESCRIPTION = """\
Measure how seamless equirectangular panoramas are (PNG or JPEG, 2:1, ours or another
tool's), one row each: the Discontinuity Score of "Geometry Fidelity for Spherical Images"
(Christensen et al., arXiv 2407.18207) across the +-180 degree border (below 1 for a
border as smooth as its surroundings, large for a step), the mean step across that border
over the mean step between neighbouring columns (about 1 when seamless), and the spread
(standard deviation) of the top and bottom rows, each one point of the sphere (near 0
when the poles close). Prints a table, or JSON with --json - ; --json FILE writes it to a
new file. Sort many panoramas by a column to find the best.

examples:
  ganorama score out/panorama/0.png
  ganorama score out/panorama/0.png --json 0_scores.json
"""

COLUMNS = ("discontinuity_score", "wrap_step", "pole_spread")


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(subparsers, "score", help="seam and pole scores of equirect panoramas",
                           description=DESCRIPTION)  # fmt: skip
    parser.add_argument("panoramas", nargs="+", metavar="PANO", help="equirectangular PNG or JPEG images (2:1)")
    parser.add_argument("--json", default=None, metavar="FILE|-",
                        help="write the scores as JSON to a new FILE, or to standard output with -")  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.files import check_new_file

    if args.json not in (None, "-"):
        check_new_file(args.json)  # before reading anything
    from ganorama.export.io import load_panorama
    from ganorama.scores import score_panorama

    rows = [{"panorama": path, **score_panorama(load_panorama(path)).to_dict()} for path in args.panoramas]
    if args.json is None:
        print(_table(rows))
        return 0
    text = json.dumps({"panoramas": rows}, indent=2) + "\n"
    if args.json == "-":
        print(text, end="")
        return 0
    from ganorama.files import write_bytes_atomic

    print(write_bytes_atomic(args.json, text.encode("utf-8")))
    return 0


def _table(rows: list[dict]) -> str:
    names = [row["panorama"] for row in rows]
    width = max(len("panorama"), *(len(name) for name in names))
    lines = ["  ".join(["panorama".ljust(width), *(column.rjust(len(column)) for column in COLUMNS)])]
    for row in rows:
        values = [f"{row[column]:.4f}".rjust(len(column)) for column in COLUMNS]
        lines.append("  ".join([row["panorama"].ljust(width), *values]))
    return "\n".join(lines)
