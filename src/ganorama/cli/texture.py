"""``ganorama texture``: seamless tileable square textures (``bigimg --wrap xy`` on a square grid)."""
from __future__ import annotations

import argparse

from ganorama.cli.flags import add_generation_arguments
from ganorama.cli.generate import run_generation
from ganorama.cli.parsing import add_subparser

DESCRIPTION = """\
Generate seamless square textures that tile in both directions: a square grid of
overlapping tiles wrapped left/right and top/bottom (ganorama bigimg --wrap xy). The grid
is chosen so the texture is as close as possible to --size pixels: a whole number of
tile steps, stride = S*(1-overlap) with S the model's size (e.g. 64 px steps for
biggan-deep-128 at overlap 0.5, so --size 500 gives 512). Any size runs in bounded
memory (see --max_views): --size 4096 with biggan-deep-512 (256 tiles) fits in 24 GB. Writes OUTDIR/N.png (the least unused N, never overwriting)
and OUTDIR/N.json.

examples:
  ganorama texture --size 512 --class_names "coral reef"
  ganorama texture -n 4 --size 1024 --z_mul 3 -m biggan-deep-128
  ganorama texture --class_names "0.5*honeycomb+0.5*brain coral" --no_share_z --overlap 0.75
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_subparser(subparsers, "texture", help="generate seamless tileable square textures",
                                  description=DESCRIPTION)  # fmt: skip
    add_generation_arguments(parser, "texture")
    return parser


def run(args: argparse.Namespace) -> int:
    return run_generation(args, "texture")
