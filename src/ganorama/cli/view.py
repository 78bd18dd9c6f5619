"""``ganorama view PANO.png|VIDEO.mp4 [-o PANO.html]``: an offline 360° viewer in one HTML file."""
from __future__ import annotations

import argparse

from ganorama.cli.parsing import ArgumentParser, add_subparser

DESCRIPTION = """\
Write one self-contained HTML file that shows an equirectangular panorama (PNG or JPEG,
twice as wide as tall) or plays a 360 video (an H.264 MP4 such as ganorama animate writes)
in any WebGL browser, offline: the image or video is embedded in the page and nothing is
loaded from the network. Drag, wheel, arrow keys or WASD to look around; G shows the
panorama on a globe; space or K pauses a video. A panorama larger than the GPU's texture
limit is shown at full resolution from tiles. An existing file is never replaced.

examples:
  ganorama view out/panorama/0.png
  ganorama view out/panorama/0.png -o dawn.html --title "Beach at dawn"
"""


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers,
        "view",
        help="write an offline HTML 360° viewer for a panorama",
        description=DESCRIPTION,
    )
    parser.add_argument("panorama", metavar="PANO", help="equirectangular PNG or JPEG image, or 360 MP4 video (2:1)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="HTML",
        default=None,
        help="output .html file (default: PANO with .html beside it)",
    )
    parser.add_argument("--title", default=None, help="page title (default: PANO's file name without extension)")
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.export.viewer import save_viewer

    print(save_viewer(args.panorama, args.output, title=args.title))
    return 0
