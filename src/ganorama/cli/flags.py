"""The flags of the generating commands (panorama, bigimg, texture), grouped as ``--help``
shows them. Each request field's help, type and default come from its description in
:class:`~ganorama.request.Request`; what is said here is only how the command line spells
and groups them."""
from __future__ import annotations

import argparse

from ganorama.cli.parsing import field_type, flag_names, positive_int
from ganorama.models.config import DEFAULT_MODEL, PUBLISHED_MODELS
from ganorama.request import AUTO, DEFAULTS, FIELD_HELP, FIELD_TYPES, FORMATS, LAYOUT_NAMES, MAX_SEED, WRAPS

MODEL_CHOICES = PUBLISHED_MODELS


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("-m", *flag_names("biggan_model"), dest="biggan_model", default=None, choices=MODEL_CHOICES,
                       help=f"published BigGAN-deep model, downloaded once then cached (default: {DEFAULT_MODEL}; "
                            "with --weights: the architecture the weights must have)")  # fmt: skip
    group.add_argument("--weights", default=None, metavar="PATH|hf:OWNER/REPO",
                       help="load weights from a local directory/file (config.json + pytorch_model.bin or "
                            "model.safetensors) or a Hugging Face Hub repo instead of downloading -m")  # fmt: skip
    group.add_argument(*flag_names("model_dtype"), dest="model_dtype", default="auto",
                       choices=("auto", "float32", "float16", "bfloat16"),
                       help="auto = float16 on CUDA, bfloat16 on a CPU with bfloat16 units (AVX512_BF16, AMX), "
                            "else float32")  # fmt: skip
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def add_field(group, name: str, metavar: str | None = None, help: str | None = None, **options) -> None:
    """The flag of the request field ``name``, from the field's description: its spellings,
    its default, its help and (unless ``options`` say otherwise) a type that checks the
    value with the field's own check. A true/false field is a switch."""
    if FIELD_TYPES[name] is bool:
        group.add_argument(*flag_names(name), dest=name, action="store_true", help=help or FIELD_HELP[name])
        return
    options.setdefault("type", field_type(name))
    group.add_argument(*flag_names(name), dest=name, default=options.pop("default", DEFAULTS[name]), metavar=metavar,
                       help=help or FIELD_HELP[name], **options)  # fmt: skip


def add_sampling_arguments(parser: argparse.ArgumentParser, per: str | None = None) -> None:
    """The sampling flags; ``per`` names what each class name and seed is for ("keyframe"
    in an animation) instead of one result each (with -n)."""
    group = parser.add_argument_group("sampling (the original tool's flags)")
    if per is None:
        group.add_argument("-n", *flag_names("num_generations"), dest="num_generations", type=positive_int, default=1,
                           help="how many results to make")
    item = per or "result"
    group.add_argument(*flag_names("class_names"), dest="class_names", default=None, metavar='"A|B|..."',
                       help=f"ImageNet classes separated by |; {item} k uses name k mod count. Each may be a "
                            "name, an id or a mix like 0.7*sandbar+0.3*valley (see: ganorama classes QUERY); "
                            "random classes when omitted")  # fmt: skip
    for name in ("z_mul", "class_mul", "truncation"):
        add_field(group, name, metavar="X")
    add_field(group, "share_class")
    add_field(group, "no_share_z")
    add_field(group, "start_layer", metavar="I")
    add_field(group, "end_layer", metavar="J")
    add_field(group, "seed", metavar="S", help=f"seed of {item} 0 ({item} k uses S+k), 0 to {MAX_SEED}; random and "
                                               "recorded in the JSON when omitted")  # fmt: skip


def add_run_arguments(parser: argparse.ArgumentParser, multiple: bool = True, keep_recorded: bool = False) -> None:
    group = parser.add_argument_group("memory and progress")
    recorded = " (default: the chunking the sidecar records, so the bytes come out the same)" if keep_recorded else ""
    add_field(group, "max_views", metavar="N|auto", default=None if keep_recorded else AUTO,
              help=FIELD_HELP["max_views"] + recorded)
    add_field(group, "memory_budget", metavar="SIZE")
    if multiple:
        group.add_argument("--batch", default="1", metavar="K|auto",
                           help="with -n: run K results (K x views) per forward where their canvases match; auto "
                                "takes as many as --max_views holds")  # fmt: skip
    group.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors: no progress bar, no "
                                                                  "list of the files written")


def add_output_arguments(group, kind: str) -> None:
    group.add_argument("-o", "--outdir", default=f"out/{kind}", metavar="DIR|FILE",
                       help=f"output directory; results are DIR/N.png with N the least unused number (default: "
                            f"out/{kind}). With -n 1 it may also be a file name, e.g. mypano.png")  # fmt: skip
    add_field(group, "format", default=None, choices=FORMATS, type=None,
              help="image format (default: from -o's suffix, else png)" +
                   ("; both carry GPano 360 metadata" if kind == "panorama" else ""))  # fmt: skip
    add_field(group, "quality")
    # A flat image's views are its tiles.
    add_field(group, "save_views", help=FIELD_HELP["save_views"].replace("views", "views" if kind == "panorama" else "tiles", 1))


def add_panorama_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("panorama")
    add_output_arguments(group, "panorama")
    # No default here: one side given alone sets the other (see panorama_size); neither, the defaults.
    add_field(group, "panorama_width", metavar="W|auto", default=None,
              help=FIELD_HELP["panorama_width"] + f" (default {DEFAULTS['panorama_width']})")
    add_field(group, "panorama_height", metavar="H|auto", default=None,
              help=FIELD_HELP["panorama_height"] + f" (default {DEFAULTS['panorama_height']}; auto when only the "
                                                   "width is given)")
    add_field(group, "layout", metavar="|".join(LAYOUT_NAMES) + "|dense[:N]|FILE.json", type=None)  # read when the request is made
    group.add_argument(*flag_names("visualise_point_cloud"), dest="visualise_point_cloud", action="store_true",
                       help="show the views as a 3-D point cloud (needs open3d)")
    exports = parser.add_argument_group("exports (each also a command on an existing panorama)")
    for name in ("cubemap", "viewer", "turntable", "mesh"):
        add_field(exports, name)
    add_field(exports, "displace", metavar="D")
    add_field(exports, "export_point_cloud")


def add_bigimg_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("big image")
    add_output_arguments(group, "bigimg")
    add_field(group, "batch_size", metavar="COLS")
    add_field(group, "rows")
    add_field(group, "overlap", metavar="F")
    add_field(group, "wrap", choices=WRAPS, type=None)
    add_field(group, "morph")


def add_texture_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("texture")
    add_output_arguments(group, "texture")
    add_field(group, "size")
    add_field(group, "overlap", metavar="F")


def add_generation_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    add_sampling_arguments(parser)
    add_model_arguments(parser)
    {"panorama": add_panorama_arguments, "bigimg": add_bigimg_arguments, "texture": add_texture_arguments}[kind](parser)
    add_run_arguments(parser)
