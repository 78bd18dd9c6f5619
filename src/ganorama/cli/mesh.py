"""``ganorama mesh PANO -o sphere.glb``: a textured (bumpy) sphere as binary glTF."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli.parsing import ArgumentParser, add_subparser, finite_float, positive_int

DESCRIPTION = """\
Wrap an equirectangular (2:1) panorama on a UV sphere and write it as binary glTF
(.glb) with the panorama embedded as its texture, to open in Blender, three.js,
<model-viewer> or any glTF viewer. The sphere is a globe: seen from outside the texture
reads as the image does, and the panorama's centre faces the viewer (+Z). With
--displace the surface bulges where the panorama is bright. The output, the memory and
the disk space needed are checked before anything is read; an existing output is never
replaced.

examples:
  ganorama mesh out/panorama/0.png -o planet.glb
  ganorama mesh out/panorama/0.png -o bumpy.glb --displace 0.1 --rings 256 --segments 512
"""


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers, "mesh", help="wrap a panorama on a sphere mesh (.glb)", description=DESCRIPTION,
    )  # fmt: skip
    parser.add_argument("panorama", metavar="PANO", help="equirectangular panorama image (PNG/JPEG, 2:1)")
    parser.add_argument("-o", "--output", default=None,
                        help="output .glb (default: PANO's name + .glb, beside it)")  # fmt: skip
    parser.add_argument("--rings", type=positive_int, default=128, help="latitude bands (>= 2)")
    parser.add_argument("--segments", type=positive_int, default=256, help="longitude bands (>= 3)")
    parser.add_argument("--displace", type=finite_float, default=0.0,
                        help="bump height: radius = 1 + displace * (luminance - 0.5); -2 < displace < 2")  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.export.mesh import save_sphere_glb

    source = Path(args.panorama)
    output = Path(args.output) if args.output else source.with_suffix(".glb")
    print(save_sphere_glb(source, output, rings=args.rings, segments=args.segments, displace=args.displace))
    return 0
