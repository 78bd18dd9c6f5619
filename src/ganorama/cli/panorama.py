"""``ganorama panorama``: 360-degree equirectangular panoramas (the seed's main.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli import common

DESCRIPTION = """\
Generate 360-degree panoramas: the generator runs overlapping camera views covering the
whole sphere as one batch, syncs their features at the chosen blocks and stitches them
into one equirectangular image. Writes OUTDIR/N.png (the least unused N, never
overwriting) and OUTDIR/N.json with everything needed to regenerate it.

examples:
  ganorama panorama -n 10 --z_mul 3
  ganorama panorama -n 2 --class_names "sandbar|valley" --no_share_z
  ganorama panorama --weights ./biggan-deep-128 --seed 1 --save_views
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = common.add_subparser(
        subparsers, "panorama", help="generate 360-degree panoramas", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganorama.canvas.sphere import DEFAULT_LAYOUT, LAYOUTS

    common.add_sampling_arguments(parser)
    common.add_model_arguments(parser)
    group = parser.add_argument_group("panorama")
    group.add_argument("-o", "--outdir", default="out/panorama", help="output directory (default: out/panorama)")
    group.add_argument(*common.flag_names("panorama_width"), dest="panorama_width", type=common.positive_int,
                       default=2000, help="equirect width in pixels (default: 2000)")
    group.add_argument(*common.flag_names("panorama_height"), dest="panorama_height", type=common.positive_int,
                       default=1000, help="equirect height in pixels (default: 1000)")
    group.add_argument("--layout", default=DEFAULT_LAYOUT, choices=tuple(LAYOUTS),
                       help="camera layout: full = seed16 + zenith + nadir (covers the poles); "
                            "seed16 = the seed's 16 views; cube = 6 wide views (default: full)")
    common.add_save_views_argument(group)
    group.add_argument(*common.flag_names("visualise_point_cloud"), dest="visualise_point_cloud",
                       action="store_true", help="show the views as a 3-D point cloud (needs open3d)")

    exports = parser.add_argument_group("exports (each also a subcommand on an existing panorama)")
    exports.add_argument("--format", default="png", choices=("png", "jpg"),
                         help="image format; both carry GPano 360 metadata (default: png)")
    exports.add_argument("--quality", type=common.positive_int, default=95, help="JPEG quality 1-100 (default: 95)")
    exports.add_argument("--cubemap", action="store_true",
                         help="also write a skybox: OUTDIR/N_cubemap/{px,nx,py,ny,pz,nz,cross}")
    exports.add_argument("--viewer", action="store_true", help="also write OUTDIR/N.html, an offline 360 viewer")
    exports.add_argument("--turntable", action="store_true", help="also write OUTDIR/N_turntable.gif, a spinning globe")
    exports.add_argument("--mesh", action="store_true", help="also write OUTDIR/N.glb, a textured sphere (glTF)")
    exports.add_argument("--displace", type=common.finite_float, default=0.0,
                         help="colour-based displacement for --turntable/--mesh, e.g. 0.1 (default: 0)")
    exports.add_argument(*common.flag_names("export_point_cloud"), dest="export_point_cloud", action="store_true",
                         help="also write the views' 3-D points with their colours as OUTDIR/N.ply")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ganorama.devices import resolve_device

    # Everything that can be checked is checked before the (slow) model load.
    sampling = common.sampling_from(args)
    resolve_device(args.device)
    if args.quality > 100:
        common.raise_usage(f"--quality {args.quality} is out of range; allowed: 1 to 100")
    if args.turntable or args.mesh:
        from ganorama.export.mesh import check_displace

        check_displace(args.displace)
    if args.visualise_point_cloud:
        from ganorama.export.pointcloud import require_open3d

        require_open3d()
    generator = common.load_generator(args)
    outdir = Path(args.outdir)
    for k in tqdm(range(args.num_generations), desc="panoramas", unit="pano", disable=args.num_generations < 2):
        result = generator.panorama(
            classes=common.class_spec_for(args.class_names, k),
            seed=None if args.seed is None else args.seed + k,
            sampling=sampling, layout=args.layout, width=args.panorama_width, height=args.panorama_height,
        )
        print(save_result(result, outdir, args))
        if args.visualise_point_cloud:
            from ganorama.export.pointcloud import show_views_point_cloud

            show_views_point_cloud(result)
    return 0


def save_result(result, outdir: Path, args: argparse.Namespace) -> Path:
    """Write the panorama (with 360 metadata), its JSON and the requested exports under the
    least unused number N; returns the image path."""
    from ganorama.export.metadata import save_panorama

    def save_image(path: Path) -> None:
        save_panorama(result.to_pil(), path, format=args.format, quality=args.quality)

    index, image_path = common.write_numbered_result(result, args, outdir, save_image, suffix=args.format)
    if args.cubemap:
        from ganorama.export.cubemap import save_cubemap

        save_cubemap(result.image, outdir / f"{index}_cubemap", format=args.format)
    if args.viewer:
        from ganorama.export.viewer import save_viewer

        save_viewer(image_path, outdir / f"{index}.html")
    if args.turntable:
        from ganorama.export.turntable import render_turntable, save_turntable

        save_turntable(render_turntable(result.image, displace=args.displace), outdir / f"{index}_turntable.gif")
    if args.mesh:
        from ganorama.export.mesh import save_sphere_glb

        save_sphere_glb(result.image, outdir / f"{index}.glb", displace=args.displace)
    if args.export_point_cloud:
        from ganorama.export.pointcloud import views_points, write_ply

        write_ply(outdir / f"{index}.ply", *views_points(result.views, result.metadata["views"]))
    return image_path
