"""``ganorama cubemap PANO [-o OUTDIR]``: split a panorama into six cube-map faces."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli.parsing import ArgumentParser, add_subparser, flag_names, positive_int
from ganorama.request import FORMATS

DESCRIPTION = """\
Convert an equirectangular (2:1) panorama into the six faces of a cube map, named and
oriented as OpenGL and three.js's CubeTextureLoader expect (px nx py ny pz nz; pz is the
panorama's centre, py its top), plus a horizontal cross of all six; --format png16, exr or
hdr keeps the float precision of a 16-bit or EXR panorama (ganorama skybox writes the
layouts of other engines). The output
directory, the memory and the disk space needed are checked before anything is read;
existing files are never replaced, and a run that fails part-way leaves no faces behind.

examples:
  ganorama cubemap out/panorama/0.png
  ganorama cubemap out/panorama/0.png -o skybox --face-size 1024 --format jpg
"""



def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers, "cubemap", help="convert a panorama to six cube-map faces", description=DESCRIPTION,
    )  # fmt: skip
    parser.add_argument("panorama", metavar="PANO", help="equirectangular panorama image (PNG/JPEG/EXR, 2:1)")
    parser.add_argument("-o", "--outdir", default=None,
                        help="output directory (default: PANO's name + _cubemap, beside it)")  # fmt: skip
    parser.add_argument(*flag_names("face_size"), dest="face_size", type=positive_int, default=None,
                        help="face width and height in pixels (default: panorama width / 4)")  # fmt: skip
    parser.add_argument("--format", default="png", choices=FORMATS, help="image format of the faces")
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.errors import UsageError
    from ganorama.export.cubemap import save_cubemap
    from ganorama.formats import format_from_suffix

    source = Path(args.panorama)
    outdir = Path(args.outdir) if args.outdir else source.with_name(source.stem + "_cubemap")
    # -o names a directory; an image suffix says the user took it for a file name.
    if format_from_suffix(outdir) is not None:
        raise UsageError(
            f"-o {str(outdir)!r} looks like an image file name; -o names the directory that gets the six "
            f"faces and the cross (e.g. -o {outdir.with_suffix('').name or 'skybox'}; the format is --format)"
        )
    for path in save_cubemap(source, outdir, face_size=args.face_size, format=args.format).values():
        print(path)
    return 0
