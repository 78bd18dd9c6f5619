"""Argument-parsing helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2)."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, description (with its examples) kept as written."""


def add_subparser(subparsers, name: str, **kwargs) -> ArgumentParser:
    """Add a subcommand whose parser is our one-line-error ArgumentParser."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    return subparsers.add_parser(name, **kwargs)


def flag_names(name: str) -> list[str]:
    """``--seed_flag`` plus its dashed spelling ``--seed-flag`` when they differ."""
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    return names


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer (>= 1)")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


# --- flags shared by the generating subcommands (panorama, bigimg, texture) ------------

MODEL_CHOICES = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("-m", *flag_names("biggan_model"), dest="biggan_model", default="biggan-deep-256",
                       choices=MODEL_CHOICES, help="published BigGAN-deep model (downloaded once, then cached)")
    group.add_argument("--weights", default=None, metavar="PATH|hf:OWNER/REPO",
                       help="load weights from a local directory/file (config.json + pytorch_model.bin or "
                            "model.safetensors) or a Hugging Face Hub repo instead of downloading --biggan_model")
    group.add_argument(*flag_names("model_dtype"), dest="model_dtype", default="auto",
                       choices=("auto", "float32", "float16", "bfloat16"),
                       help="auto = float16 on CUDA, float32 on CPU")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling (the seed's flags)")
    group.add_argument("-n", *flag_names("num_generations"), dest="num_generations", type=positive_int, default=1,
                       help="how many results to generate")
    group.add_argument(*flag_names("class_names"), dest="class_names", default=None, metavar='"A|B|..."',
                       help="ImageNet classes separated by |; result k uses name k mod count. Each may be a "
                            "name, an id or a mix like 0.7*sandbar+0.3*valley (see: ganorama classes QUERY)")
    group.add_argument(*flag_names("z_mul"), dest="z_mul", type=finite_float, default=1.0,
                       help="multiply the noise vector (large values give wild, abstract results)")
    group.add_argument(*flag_names("class_mul"), dest="class_mul", type=finite_float, default=1.0,
                       help="multiply the class vector")
    group.add_argument("--truncation", type=finite_float, default=0.5, help="noise truncation, 0 < t <= 1")
    group.add_argument(*flag_names("share_class"), dest="share_class", action="store_true",
                       help="without --class_names: one random class for all views instead of one per view")
    group.add_argument(*flag_names("no_share_z"), dest="no_share_z", action="store_true",
                       help="draw a separate noise vector per view instead of one shared by all views")
    group.add_argument(*flag_names("start_layer"), dest="start_layer", type=non_negative_int, default=2,
                       help="first generator block whose output is synced (blocks count GenBlocks and attention)")
    group.add_argument(*flag_names("end_layer"), dest="end_layer", type=non_negative_int, default=7,
                       help="sync blocks start_layer <= i < end_layer (Python slice)")
    group.add_argument("--seed", type=non_negative_int, default=None,
                       help="seed for result 0 (result k uses seed+k); random and recorded in the JSON if omitted")


def class_spec_for(class_names: str | None, index: int) -> str | None:
    """The seed's rule: with "a|b|c", result k uses name k mod 3."""
    if class_names is None:
        return None
    names = [name.strip() for name in class_names.split("|")]
    if not all(names):
        raise_usage(f"--class_names {class_names!r} has an empty name; separate names with |")
    return names[index % len(names)]


def validate_class_names(class_names: str | None) -> None:
    """Fail before loading any model if a class name is unknown."""
    from ganorama.models.imagenet import parse_class_mix

    if class_names is not None:
        for index in range(len(class_names.split("|"))):
            parse_class_mix(class_spec_for(class_names, index))


def raise_usage(message: str):
    from ganorama.errors import UsageError

    raise UsageError(message)


def add_save_views_argument(group, what: str = "views") -> None:
    group.add_argument(*flag_names("save_views"), dest="save_views", action="store_true",
                       help=f"also write the raw {what} as one contact sheet, OUTDIR/N_views.png")


def sampling_from(args: argparse.Namespace):
    """The Sampling of the seed's flags, checked as far as possible without a model."""
    from ganorama.pipeline import Sampling

    validate_class_names(args.class_names)
    sampling = Sampling(
        truncation=args.truncation, z_mul=args.z_mul, class_mul=args.class_mul, share_z=not args.no_share_z,
        share_class=args.share_class, start_layer=args.start_layer, end_layer=args.end_layer,
    )
    sampling.validate()
    return sampling


def load_generator(args: argparse.Namespace):
    from ganorama.pipeline import Ganorama

    return Ganorama.from_pretrained(args.biggan_model, weights=args.weights, device=args.device,
                                    dtype=args.model_dtype)


def write_numbered_result(result, args: argparse.Namespace, outdir, save_image, suffix: str = "png",
                          columns: int | None = None):
    """Write OUTDIR/N.<suffix> (through ``save_image(path)``, which must write atomically),
    N.json and, with --save_views, N_views.png at the least unused N; never replaces a
    file. Returns (N, image path)."""
    from pathlib import Path

    from ganorama.outputs import next_free_index, write_with

    outdir = Path(outdir)
    result.metadata["weights"] = args.weights
    index = next_free_index(outdir)
    image_path = outdir / f"{index}.{suffix}"
    save_image(image_path)
    write_with(outdir / f"{index}.json", lambda path: path.write_text(result.metadata_json()))
    if args.save_views:
        sheet = result.views_contact_sheet(columns)
        write_with(outdir / f"{index}_views.png", lambda path: sheet.save(path, "PNG"))
    return index, image_path
