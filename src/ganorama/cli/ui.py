"""``ganorama ui``: serve the web app on this computer (needs ``pip install "ganorama[ui]"``)."""
from __future__ import annotations

import argparse

from ganorama.cli.flags import add_model_arguments
from ganorama.cli.generate import (
    check_model_choice,
    known_config,
    load_generator,
    model_arguments,
    told_where_weights_came_from,
)
from ganorama.cli.parsing import add_subparser

DESCRIPTION = """\
Serve a local web app to make panoramas, big images, textures and 360 videos in a
browser: the panorama in the 360 viewer, the video, the image, the views, downloads
(PNG/JPEG with GPano metadata, the JSON sidecar, cubemap, sphere, viewer page, MP4) and
the server's history of results (a reloaded page finds it); several results at once,
Cancel, and "Reproduce" fills the form from a sidecar. The model is loaded once; one
result is made at a time and other requests wait their turn. Results are kept in a
temporary folder that is removed when the server stops; nothing else is written.
Needs the ui extra: pip install "ganorama[ui]".

examples:
  ganorama ui
  ganorama ui -m biggan-deep-128 --port 8080
  ganorama ui --weights ./biggan-deep-256 --device cuda
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_subparser(subparsers, "ui", help="serve the web app in a browser", description=DESCRIPTION)
    group = parser.add_argument_group("server")
    group.add_argument("--host", default="127.0.0.1",
                       help="address to listen on: 127.0.0.1 = this computer only; 0.0.0.0 = every network "
                            "(anyone who can reach this machine can use the app)")  # fmt: skip
    group.add_argument("--port", type=_port, default=7860, help="port to listen on, 1-65535")
    add_model_arguments(parser)
    return parser


def _port(text: str) -> int:
    from ganorama.errors import UsageError
    from ganorama.ui.server import check_port

    try:
        return check_port(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--port ")) from None


def run(args: argparse.Namespace) -> int:
    from ganorama.ui import server

    server.check_address(args.host, args.port)
    model_args = model_arguments(args)
    with told_where_weights_came_from(model_args):
        _check_local_weights(model_args.weights)
    config = known_config(model_args)
    if config is not None:
        check_model_choice(model_args, config)
    with server.workspace() as root:
        server.import_gradio()
        generator = load_generator(model_args)
        check_model_choice(model_args, generator.model.config)
        server.serve(generator, args.host, args.port, root)
    print("ganorama ui: stopped; its temporary files are removed", flush=True)
    return 0


def _check_local_weights(weights: str | None) -> None:
    """A --weights path that is no checkpoint is refused now, not after gradio has loaded
    (published names and hf: repositories are fetched, and so checked, when loading)."""
    from ganorama.models.weights import KNOWN_MODELS, resolve_checkpoint_dir

    if weights is not None and weights.strip() not in KNOWN_MODELS and not weights.strip().startswith("hf:"):
        resolve_checkpoint_dir(weights)
