"""``ganorama panorama``: 360-degree equirectangular panoramas (the original main.py)."""
from __future__ import annotations

import argparse

from ganorama.cli.flags import add_generation_arguments
from ganorama.cli.generate import run_generation
from ganorama.cli.parsing import add_subparser

DESCRIPTION = """\
Generate 360-degree panoramas: the generator runs overlapping camera views covering the
whole sphere as one batch, syncs their features at the chosen blocks and stitches them
into one equirectangular image. Writes OUTDIR/N.png (the least unused N, never
overwriting; PNG or JPEG with GPano 360 metadata) and OUTDIR/N.json with everything
needed to make it again (ganorama reproduce OUTDIR/N.json).

examples:
  ganorama panorama -n 10 --z_mul 3
  ganorama panorama -n 2 --class_names "sandbar|valley" --no_share_z
  ganorama panorama --class_names "0.7*sandbar+0.3*coral reef" --seed 42 -o beach.jpg --viewer
  ganorama panorama -m biggan-deep-512 --panorama_width auto --max_views 2
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_subparser(subparsers, "panorama", help="generate 360-degree panoramas",
                                  description=DESCRIPTION)  # fmt: skip
    add_generation_arguments(parser, "panorama")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.visualise_point_cloud:
        from ganorama.export.pointcloud import require_open3d

        require_open3d()
    return run_generation(args, "panorama")
