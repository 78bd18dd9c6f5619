"""``ganorama bigimg``: large flat images from a grid of overlapping tiles (the seed's bigimg.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli import common

DESCRIPTION = """\
Generate large flat images: the generator runs a grid of overlapping tiles as one batch,
makes every feature the mean of all tiles covering that spot at the chosen blocks, and
blends the tiles into one image. --batch_size tiles across and --rows tiles down give an
image of stride*(cols-1)+S by stride*(rows-1)+S pixels, S the model's size and stride =
S*(1-overlap); the seed's 1-row strip at overlap 0.5 is (S/2)*(batch_size+1) wide.
--wrap makes the image tile seamlessly (then stride*cols wide; see also: ganorama texture).
Writes OUTDIR/N.png (the least unused N, never overwriting) and OUTDIR/N.json with
everything needed to regenerate it.

examples:
  ganorama bigimg -n 4 --class_names "orange" --no_share_z --batch_size 6
  ganorama bigimg --rows 3 --batch_size 4 --class_names valley --no_share_z
  ganorama bigimg --batch_size 8 --overlap 0.25 --z_mul 3
  ganorama bigimg --wrap x --batch_size 8 --class_names "coral reef" --no_share_z
  ganorama bigimg --morph --class_names "orange|lemon" --batch_size 8 --no_share_z
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = common.add_subparser(
        subparsers, "bigimg", help="generate large flat images and tileable strips", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganorama.canvas.plane import WRAP_CHOICES

    common.add_sampling_arguments(parser)
    common.add_model_arguments(parser)
    group = parser.add_argument_group("big image")
    group.add_argument("-o", "--outdir", default="out/bigimg", help="output directory (default: out/bigimg)")
    group.add_argument(*common.flag_names("batch_size"), dest="batch_size", type=common.positive_int, default=6,
                       help="tiles across; with --overlap 0.5 the image is (S/2)*(batch_size+1) wide (default: 6)")
    group.add_argument("--rows", type=common.positive_int, default=1, help="tiles down (default: 1)")
    add_overlap_argument(group)
    group.add_argument("--wrap", default="none", choices=WRAP_CHOICES,
                       help="join opposite edges so the image tiles: x = left/right, y = top/bottom, xy = both "
                            "(default: none)")
    group.add_argument("--morph", action="store_true",
                       help='blend the --class_names ("orange|lemon", two or more) from left to right across '
                            "each image instead of one class per image")
    common.add_save_views_argument(group, "tiles")


def add_overlap_argument(group) -> None:
    group.add_argument("--overlap", type=common.finite_float, default=0.5,
                       help="fraction of a tile shared with its neighbour, 0 <= overlap < 1; the step between "
                            "tiles must land on the synced feature grids (for the default blocks: multiples of "
                            "1/8) (default: 0.5)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    sampling = common.sampling_from(args)
    morph = morph_specs(args)
    check_canvas(args, sampling, args.rows, args.batch_size, args.wrap, known_config(args))  # before the slow load
    generator = common.load_generator(args)
    check_canvas(args, sampling, args.rows, args.batch_size, args.wrap, generator.model.config)
    outdir = Path(args.outdir)
    for k in tqdm(range(args.num_generations), desc="big images", unit="img", disable=args.num_generations < 2):
        result = generator.bigimg(
            classes=None if morph else common.class_spec_for(args.class_names, k),
            seed=None if args.seed is None else args.seed + k,
            sampling=sampling, cols=args.batch_size, rows=args.rows, overlap=args.overlap, wrap=args.wrap,
            morph=morph,
        )
        print(save_png_result(result, args, outdir, columns=args.batch_size))
    return 0


# --- shared with ``ganorama texture`` ------------------------------------------------------


def morph_specs(args: argparse.Namespace) -> list[str] | None:
    """With --morph, the class specs to blend across each image (the same for every result)."""
    if not getattr(args, "morph", False):
        return None
    names = [] if args.class_names is None else [name.strip() for name in args.class_names.split("|")]
    if len(names) < 2:
        common.raise_usage('--morph needs --class_names with two or more classes, e.g. --class_names "orange|lemon"')
    return names


def known_config(args: argparse.Namespace):
    """The model's architecture when it is known without loading weights (a published
    name or a local checkpoint directory), else None (a hub repo: checked after loading)."""
    from ganorama.models.biggan import CONFIG_NAME, BigGANConfig
    from ganorama.models.weights import KNOWN_MODELS, local_checkpoint_dir

    source = (args.weights or args.biggan_model).strip()
    if source in KNOWN_MODELS:
        return BigGANConfig.preset(source)
    if source.startswith("hf:") or not Path(source).expanduser().exists():
        return None  # the loader gives the one-line error for a missing path
    return BigGANConfig.from_json_file(local_checkpoint_dir(source) / CONFIG_NAME)


def check_canvas(args: argparse.Namespace, sampling, rows: int, cols: int, wrap: str, config) -> None:
    """Refuse a grid, overlap, wrap or layer range the model cannot tile; without
    ``config`` only what does not depend on the model (the overlap's range, wrap without
    overlap)."""
    from ganorama.canvas.plane import PlaneCanvas, check_grid, check_overlap, check_overlap_range, check_wrap

    check_grid(rows, cols)
    check_overlap_range(args.overlap)
    check_wrap(wrap, args.overlap)
    if config is None:
        return
    sampling.validate(config.num_blocks)
    synced = config.block_resolutions()[sampling.start_layer : sampling.end_layer]
    # The feature grids before the pixel grid: that message names the block and the
    # overlaps that work, which says more than "not a whole number of pixels".
    check_overlap(args.overlap, config.output_dim, synced, first_block=sampling.start_layer)
    PlaneCanvas(rows=rows, cols=cols, tile_size=config.output_dim, overlap=args.overlap, wrap=wrap)


def save_png_result(result, args: argparse.Namespace, outdir: Path, columns: int) -> Path:
    """Write the image as OUTDIR/N.png with its JSON (and views); return the image path."""
    from ganorama.outputs import write_with

    def save_image(path: Path) -> None:
        write_with(path, lambda temp: result.to_pil().save(temp, "PNG"))

    return common.write_numbered_result(result, args, outdir, save_image, columns=columns)[1]
