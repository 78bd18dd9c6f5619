"""Image formats: their names, the file suffixes that mean each, and the one rule that
picks a result's format from what the caller gave. Torch-free, at the bottom of the house:
requests, writers and exporters all read it."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ganorama.errors import UsageError

FORMATS = ("png", "jpg")
# Image file suffixes and the format each means.
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}
DEFAULT_FORMAT = "png"


def format_from_suffix(path: str | os.PathLike) -> str | None:
    """"png" or "jpg" for an image file name, None for any other suffix."""
    return IMAGE_SUFFIXES.get(Path(path).suffix.lower())


def resolve_format(path: str | os.PathLike, format: str | None = None) -> str:
    """'png' or 'jpg' from ``format`` if given, else from the file suffix; UsageError otherwise."""
    # Spellings accepted for each format, in the ``format`` argument or the file suffix.
    aliases = {suffix.lstrip("."): name for suffix, name in IMAGE_SUFFIXES.items()}
    if format is not None:
        key = str(format).lower().lstrip(".")
        if key not in aliases:
            raise UsageError(f"unknown image format {format!r}; allowed: {', '.join(FORMATS)}")
        return aliases[key]
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in aliases:
        raise UsageError(
            f"cannot tell the image format of {Path(path).name!r} from its suffix; "
            f"use .png, .jpg or .jpeg (allowed formats: {', '.join(FORMATS)})"
        )
    return aliases[suffix]


def result_format(path: str | os.PathLike | None, format: str | None = None, fallback: str | None = None) -> str:
    """The format a result is written in: ``format`` when given, else the suffix of an
    image file name ``path``, else ``fallback`` (the request's), else png."""
    if format is not None:
        return format
    return (format_from_suffix(path) if path is not None else None) or fallback or DEFAULT_FORMAT


@contextlib.contextmanager
def open_image(source):
    """``PIL.Image.open(source)`` (a path or a binary file) without Pillow's
    DecompressionBombWarning: a large panorama is what this tool is for, and those two raw
    lines told the user nothing. An image over Pillow's hard limit (twice the warning's)
    still raises ``DecompressionBombError``, which callers phrase."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(source)
    with image:
        yield image


def pixel_limit_reason(error: Exception) -> str:
    """One line for Pillow's DecompressionBombError: how large the image is, and the limit."""
    from PIL import Image

    import re

    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    found = re.search(r"\((\d+) pixels\)", str(error))  # "Image size (N pixels) exceeds limit of M pixels"
    size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return f"{size}, over the {limit:,} pixels Pillow reads safely"
