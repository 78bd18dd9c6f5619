"""``ganorama skybox PANO --engine NAME [-o OUTDIR]``: a panorama as an engine's skybox files."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganorama.cli.parsing import ArgumentParser, add_subparser, flag_names, positive_int
from ganorama.engines import ENGINES
from ganorama.formats import FORMATS

DESCRIPTION = """\
Write a panorama as the files one engine or web client imports as a skybox: the faces in
its order, orientation, names and layout, or the equirect in the format it wants, plus a
README.txt in the folder that says how to import them. --engine list prints the presets.
The output folder, the format, the face size (against the engine's limit), the memory and
the disk space are checked before the panorama is read; nothing is ever replaced, and a
run that fails part-way leaves nothing behind.

examples:
  ganorama skybox --engine list
  ganorama skybox out/panorama/0.png --engine unity
  ganorama skybox out/panorama/0.png --engine godot --format hdr -o sky_godot
"""


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers, "skybox", help="write a panorama as an engine's skybox (Unity, Unreal, Godot, ...)",
        description=DESCRIPTION,
    )  # fmt: skip
    parser.add_argument("panorama", metavar="PANO", nargs="?", default=None,
                        help="equirectangular panorama image (PNG, 16-bit PNG, JPEG or EXR, 2:1)")  # fmt: skip
    parser.add_argument("--engine", required=True, metavar="NAME",
                        help=f"the preset: {', '.join(ENGINES)}; list prints what each writes")  # fmt: skip
    parser.add_argument("-o", "--outdir", default=None,
                        help="output directory (default: PANO's name + _ENGINE, beside it)")  # fmt: skip
    parser.add_argument(*flag_names("face_size"), dest="face_size", type=positive_int, default=None,
                        help="face width and height in pixels (default: panorama width / 4, at most the "
                             "engine's limit)")  # fmt: skip
    parser.add_argument("--format", default=None, choices=FORMATS,
                        help="image format (default: the engine's; --engine list shows which it takes)")  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.engines import check_preset_options, engine_preset, preset_summary
    from ganorama.errors import UsageError
    from ganorama.formats import format_from_suffix

    if args.engine.strip().lower() == "list":
        for preset in ENGINES.values():
            print(preset_summary(preset))
        return 0
    preset = engine_preset(args.engine)
    check_preset_options(preset, args.format, args.face_size)
    if args.panorama is None:
        raise UsageError(f"give the panorama to convert: ganorama skybox PANO --engine {preset.name}")
    source = Path(args.panorama)
    outdir = Path(args.outdir) if args.outdir else source.with_name(f"{source.stem}_{preset.name}")
    # -o names a directory; an image suffix says the user took it for a file name.
    if format_from_suffix(outdir) is not None:
        raise UsageError(f"-o {str(outdir)!r} looks like an image file name; -o names the directory that gets the "
                         f"{preset.title} files (e.g. -o {outdir.with_suffix('').name or 'skybox'})")  # fmt: skip
    from ganorama.export.skybox import save_skybox

    for path in save_skybox(source, outdir, preset, face_size=args.face_size, format=args.format).values():
        print(path)
    return 0
