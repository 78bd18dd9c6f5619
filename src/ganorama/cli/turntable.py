"""``ganorama turntable PANO -o spin.gif``: a spinning globe wrapped in a panorama."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli.parsing import ArgumentParser, add_subparser, finite_float, positive_int

DESCRIPTION = """\
Render an equirectangular (2:1) panorama wrapped on a globe turning once about its
vertical axis, as a looping GIF (or an MP4 with: pip install "ganorama[video]"). With
--displace the globe bulges where the panorama is bright (0.1 gives the seed's bumpy
spheres). Frames are written as they are rendered; at most 3600 frames. The output,
the memory and the disk space needed are checked before anything is rendered. An
existing output is never replaced.

examples:
  ganorama turntable out/panorama/0.png -o spin.gif
  ganorama turntable out/panorama/0.png -o spin.mp4 --fps 24 --frames 48 --displace 0.1
"""


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers, "turntable", help="render a panorama on a spinning globe (GIF/MP4)", description=DESCRIPTION,
    )  # fmt: skip
    parser.add_argument("panorama", metavar="PANO", help="equirectangular panorama image (PNG/JPEG, 2:1)")
    parser.add_argument("-o", "--output", default=None,
                        help="output .gif or .mp4 (default: PANO's name + _turntable.gif, beside it)")  # fmt: skip
    parser.add_argument("--frames", type=positive_int, default=36, help="frames per full turn, 1 to 3600")
    parser.add_argument("--size", type=positive_int, default=256, help="frame width and height in pixels")
    parser.add_argument("--fps", type=finite_float, default=12.0, help="frames per second")
    parser.add_argument("--displace", type=finite_float, default=0.0,
                        help="bump height: radius = 1 + displace * (luminance - 0.5); -2 < displace < 2")  # fmt: skip
    parser.add_argument("--elevation", type=finite_float, default=15.0,
                        help="camera height above the equator in degrees")  # fmt: skip
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar (shown only on a terminal anyway)")
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.export.turntable import write_turntable

    source = Path(args.panorama)
    output = Path(args.output) if args.output else source.with_name(source.stem + "_turntable.gif")
    # write_turntable makes the options one checked TurntableOptions after checking the
    # output, then checks the device, memory and disk from the panorama's header: each
    # once, all before it decodes the panorama or renders a frame.
    path = write_turntable(source, output, frames=args.frames, size=args.size, fps=args.fps, displace=args.displace,
                           elevation=args.elevation, device=args.device, progress=not args.quiet)  # fmt: skip
    print(path)
    return 0
