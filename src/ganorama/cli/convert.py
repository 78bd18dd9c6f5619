"""``ganorama convert DIR [-o OUTDIR]``: rewrite a checkpoint as model.safetensors."""
from __future__ import annotations

import argparse

from ganorama.cli.parsing import ArgumentParser, add_subparser

DESCRIPTION = """\
Convert a checkpoint directory (config.json + pytorch_model.bin) to model.safetensors,
with spectral normalisation already folded into the weights. Loading a directory that
holds model.safetensors prefers it, and never unpickles anything. An existing
model.safetensors is never replaced."""


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers,
        "convert",
        help="convert a checkpoint to model.safetensors (no pickle at load time)",
        description=DESCRIPTION,
    )
    parser.add_argument("directory", metavar="DIR", help="checkpoint directory holding config.json and the weights")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTDIR",
        default=None,
        help="write model.safetensors and a copy of config.json here instead of into DIR",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.models.convert import convert_to_safetensors

    print(convert_to_safetensors(args.directory, args.output))
    return 0
