"""``ganorama download MODEL``: fetch a pre-trained model into the local cache."""
from __future__ import annotations

import argparse

from ganorama.cli.parsing import ArgumentParser, add_subparser
from ganorama.models.config import PUBLISHED_MODELS

DESCRIPTION = """\
Download a pre-trained model (config.json and weights) into the local cache and print
the directory that holds it; a model already cached is only checked, not fetched again.
Pass that directory to --weights, or just use the model name: later runs find it.

With --from DIR, nothing is downloaded: the checkpoint in DIR (config.json and
pytorch_model.bin or model.safetensors, fetched elsewhere) is checked to be MODEL's
architecture and copied into the cache, so that -m MODEL works from then on with no
--weights and no network (HF_HUB_OFFLINE=1 included).

examples:
  ganorama download biggan-deep-128 --from ./biggan-deep-128"""

EPILOG = """\
models:
  biggan-deep-128           from the Hugging Face Hub (osanseviero/BigGAN-deep-128), its
                            weights pinned to the sha256 the Hub publishes
  biggan-deep-256, -512     from the reference package's S3 URLs (resumable; none publishes
                            a sha256: one is recorded beside each file at the first download
                            and checked on every later use)
  hf:OWNER/REPO[@REVISION]  any Hub model repo with config.json and pytorch_model.bin
                            or model.safetensors

cache:
  Hub models go to the Hugging Face cache, $HF_HUB_CACHE or $HF_HOME/hub
  (default ~/.cache/huggingface/hub); URL models and --from imports to $HF_HOME/ganorama/MODEL
  (default ~/.cache/huggingface/ganorama/MODEL).

environment:
  GANORAMA_WEIGHTS the --weights of every command that loads a model, set once
                   (unless -m names another architecture than those weights)
  HF_HOME          root of the cache (default ~/.cache/huggingface)
  HF_HUB_OFFLINE   set to 1 to never touch the network: only the cache is used,
                   and a model that is not cached is an error
  HF_TOKEN         token for private or gated Hub repos
  HF_ENDPOINT      address of the Hub (default https://huggingface.co); when it (or the
                   proxy set by HTTPS_PROXY) cannot be reached, only the cache is used"""


def add_parser(subparsers) -> ArgumentParser:
    parser = add_subparser(
        subparsers,
        "download",
        help="download a pre-trained model into the local cache",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help=f"{', '.join(PUBLISHED_MODELS)} or hf:OWNER/REPO[@REVISION]",
    )
    parser.add_argument("--from", dest="from_dir", default=None, metavar="DIR",
                        help="import the local checkpoint in DIR into the cache as MODEL instead of downloading")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar for URL downloads")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.from_dir is not None:
        from ganorama.models.importing import import_checkpoint

        print(import_checkpoint(args.model, args.from_dir))
        return 0
    from ganorama.models.weights import download

    print(download(args.model, progress=not args.quiet))
    return 0
