"""Image formats: their names, the file suffixes that mean each, and the one rule that
picks a result's format from what the caller gave. Torch-free, at the bottom of the house:
requests, writers and exporters all read it."""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from ganorama.errors import UsageError

FORMATS = ("png", "jpg", "png16", "exr", "hdr")
# Written from the float composition itself, not from its 8-bit image: 16-bit PNG (sRGB,
# 48-bit RGB), OpenEXR and Radiance RGBE (both linear light, the sRGB curve decoded).
FLOAT_FORMATS = ("png16", "exr", "hdr")
# Formats that store linear light rather than sRGB-encoded values.
LINEAR_FORMATS = ("exr", "hdr")
# Image file suffixes and the format each means (a .png is 8-bit unless --format png16).
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".exr": "exr", ".hdr": "hdr"}
# The suffix each format's files get.
FORMAT_SUFFIXES = {"png": ".png", "jpg": ".jpg", "png16": ".png", "exr": ".exr", "hdr": ".hdr"}
DEFAULT_FORMAT = "png"


def format_from_suffix(path: str | os.PathLike) -> str | None:
    """The format an image file name means by its suffix ("png", "jpg", "exr", "hdr"),
    None for any other suffix."""
    return IMAGE_SUFFIXES.get(Path(path).suffix.lower())


def suffix_for(format: str) -> str:
    """The file suffix of ``format``'s files, with its dot: png16 is a ``.png``."""
    return FORMAT_SUFFIXES[format]


def suffix_fits(format: str, path: str | os.PathLike) -> bool:
    """Whether the file name ``path`` has a suffix that ``format`` writes (.jpeg for jpg,
    .png for png16 too)."""
    return format_from_suffix(path) in (format, format_from_suffix("x" + suffix_for(format)))


def resolve_format(path: str | os.PathLike, format: str | None = None) -> str:
    """A format name (one of FORMATS) from ``format`` if given, else from the file suffix;
    UsageError otherwise."""
    # Spellings accepted for each format, in the ``format`` argument or the file suffix.
    aliases = {**{suffix.lstrip("."): name for suffix, name in IMAGE_SUFFIXES.items()}, **{name: name for name in FORMATS}}
    if format is not None:
        key = str(format).lower().lstrip(".")
        if key not in aliases:
            raise UsageError(f"unknown image format {format!r}; allowed: {', '.join(FORMATS)}")
        return aliases[key]
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in aliases:
        raise UsageError(
            f"cannot tell the image format of {Path(path).name!r} from its suffix; "
            f"use .png, .jpg, .jpeg, .exr or .hdr (allowed formats: {', '.join(FORMATS)})"
        )
    return aliases[suffix]


def result_format(path: str | os.PathLike | None, format: str | None = None, fallback: str | None = None) -> str:
    """The format a result is written in: ``format`` when given, else the suffix of an
    image file name ``path`` (``fallback``, the request's, where that suffix is one it
    writes), else ``fallback``, else png."""
    if format is not None:
        return format
    by_suffix = format_from_suffix(path) if path is not None else None
    if by_suffix is not None and fallback is not None and suffix_fits(fallback, path):
        return fallback  # a .png of a png16 request stays 16-bit
    return by_suffix or fallback or DEFAULT_FORMAT


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

    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    found = re.search(r"\((\d+) pixels\)", str(error))  # "Image size (N pixels) exceeds limit of M pixels"
    size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return f"{size}, over the {limit:,} pixels Pillow reads safely"
