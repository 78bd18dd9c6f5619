"""``ganorama texture``: seamless tileable square textures (``bigimg --wrap xy`` on a square grid)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli import bigimg, common

DEFAULT_SIZE = 512

DESCRIPTION = """\
Generate seamless square textures that tile in both directions: a square grid of
overlapping tiles wrapped left/right and top/bottom (ganorama bigimg --wrap xy). The grid
is chosen so the texture is as close as possible to --size pixels: a whole number of
tile steps, stride = S*(1-overlap) with S the model's size (e.g. 64 px steps for
biggan-deep-128 at overlap 0.5, so --size 500 gives 512). Writes OUTDIR/N.png (the least
unused N, never overwriting) and OUTDIR/N.json.

examples:
  ganorama texture --size 512 --class_names "coral reef"
  ganorama texture -n 4 --size 1024 --z_mul 3 -m biggan-deep-128
  ganorama texture --class_names "0.5*honeycomb+0.5*brain coral" --no_share_z --overlap 0.75
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = common.add_subparser(
        subparsers, "texture", help="generate seamless tileable square textures", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_sampling_arguments(parser)
    common.add_model_arguments(parser)
    group = parser.add_argument_group("texture")
    group.add_argument("-o", "--outdir", default="out/texture", help="output directory (default: out/texture)")
    group.add_argument("--size", type=common.positive_int, default=DEFAULT_SIZE,
                       help="wanted side in pixels; the nearest whole number of tile steps is used "
                            f"(default: {DEFAULT_SIZE})")
    bigimg.add_overlap_argument(group)
    common.add_save_views_argument(group, "tiles")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    sampling = common.sampling_from(args)
    config = bigimg.known_config(args)
    tiles = check_texture(args, sampling, config)  # before the slow load, when the model is known
    generator = common.load_generator(args)
    tiles = check_texture(args, sampling, generator.model.config)
    outdir = Path(args.outdir)
    for k in tqdm(range(args.num_generations), desc="textures", unit="img", disable=args.num_generations < 2):
        result = generator.bigimg(
            classes=common.class_spec_for(args.class_names, k),
            seed=None if args.seed is None else args.seed + k,
            sampling=sampling, cols=tiles, rows=tiles, overlap=args.overlap, wrap="xy",
        )
        result.metadata.update(kind="texture", requested_size=args.size)
        print(bigimg.save_png_result(result, args, outdir, columns=tiles))
    return 0


def check_texture(args: argparse.Namespace, sampling, config) -> int | None:
    """Tiles per side for ``--size`` (None while the model is unknown), after checking
    the overlap against the model."""
    from ganorama.canvas.plane import texture_grid

    if config is None:
        bigimg.check_canvas(args, sampling, 1, 1, "xy", None)
        return None
    bigimg.check_canvas(args, sampling, 1, 1, "xy", config)
    return texture_grid(args.size, config.output_dim, args.overlap)
