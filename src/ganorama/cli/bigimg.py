"""``ganorama bigimg``: large flat images from a grid of overlapping tiles (the original bigimg.py)."""
from __future__ import annotations

import argparse

from ganorama.cli.flags import add_generation_arguments
from ganorama.cli.generate import run_generation
from ganorama.cli.parsing import add_subparser

DESCRIPTION = """\
Generate large flat images: the generator runs a grid of overlapping tiles, makes every
feature the mean of all tiles covering that spot at the chosen blocks, and blends the
tiles into one image. --batch_size tiles across and --rows tiles down give an image of
stride*(cols-1)+S by stride*(rows-1)+S pixels, S the model's size and stride =
S*(1-overlap); the original 1-row strip at overlap 0.5 is (S/2)*(batch_size+1) wide.
--wrap makes the image tile seamlessly (then stride*cols wide; see also: ganorama texture).
Any grid runs in bounded memory (see --max_views). Writes OUTDIR/N.png (the least unused
N, never overwriting) and OUTDIR/N.json with everything needed to make it again.

examples:
  ganorama bigimg -n 4 --class_names "orange" --no_share_z --batch_size 6
  ganorama bigimg --rows 3 --batch_size 4 --class_names valley --no_share_z
  ganorama bigimg --batch_size 8 --overlap 0.25 --z_mul 3
  ganorama bigimg --wrap x --batch_size 8 --class_names "coral reef" --no_share_z
  ganorama bigimg --morph --class_names "orange|lemon" --batch_size 8 --no_share_z
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_subparser(subparsers, "bigimg", help="generate large flat images and tileable strips",
                                  description=DESCRIPTION)  # fmt: skip
    add_generation_arguments(parser, "bigimg")
    return parser


def run(args: argparse.Namespace) -> int:
    return run_generation(args, "bigimg")
