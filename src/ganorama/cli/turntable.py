"""``ganorama turntable PANO -o spin.gif``: a spinning globe wrapped in a panorama."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli import common

DESCRIPTION = """\
Render an equirectangular (2:1) panorama wrapped on a globe turning once about its
vertical axis, as a looping GIF (or an MP4 with: pip install ganorama[video]). With
--displace the globe bulges where the panorama is bright (0.1 gives the seed's bumpy
spheres). An existing output is never replaced.

examples:
  ganorama turntable out/panorama/0.png -o spin.gif
  ganorama turntable out/panorama/0.png -o spin.mp4 --frames 120 --size 512 --displace 0.1
"""


def add_parser(subparsers) -> common.ArgumentParser:
    parser = common.add_subparser(
        subparsers, "turntable", help="render a panorama on a spinning globe (GIF/MP4)", description=DESCRIPTION,
    )  # fmt: skip
    parser.add_argument("panorama", metavar="PANO", help="equirectangular panorama image (PNG/JPEG, 2:1)")
    parser.add_argument("-o", "--output", default=None,
                        help="output .gif or .mp4 (default: PANO's name + _turntable.gif, beside it)")  # fmt: skip
    parser.add_argument("--frames", type=common.positive_int, default=36, help="frames per full turn")
    parser.add_argument("--size", type=common.positive_int, default=256, help="frame width and height in pixels")
    parser.add_argument("--fps", type=common.finite_float, default=12.0, help="frames per second")
    parser.add_argument("--displace", type=common.finite_float, default=0.0,
                        help="bump height: radius = 1 + displace * (luminance - 0.5); -2 < displace < 2")  # fmt: skip
    parser.add_argument("--elevation", type=common.finite_float, default=15.0,
                        help="camera height above the equator in degrees")  # fmt: skip
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.errors import UsageError
    from ganorama.devices import resolve_device
    from ganorama.export.io import load_panorama
    from ganorama.export.mesh import check_displace
    from ganorama.export.turntable import render_turntable, save_turntable

    source = Path(args.panorama)
    output = Path(args.output) if args.output else source.with_name(source.stem + "_turntable.gif")
    # Refuse bad outputs and options before spending time rendering.
    if output.suffix.lower() not in (".gif", ".mp4"):
        raise UsageError(f"turntable output {str(output)!r} must end in .gif or .mp4")
    if output.exists():
        raise UsageError(f"{output} already exists; choose another output name")
    if output.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise UsageError(
                "writing .mp4 needs imageio-ffmpeg: pip install ganorama[video] (or write a .gif)"
            ) from None
    check_displace(args.displace)
    device = resolve_device(args.device)
    panorama = load_panorama(source)
    frames = render_turntable(panorama, frames=args.frames, size=args.size, displace=args.displace,
                              elevation=args.elevation, device=device)  # fmt: skip
    print(save_turntable(frames, output, fps=args.fps))
    return 0
