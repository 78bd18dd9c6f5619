"""Image formats: their names, the file suffixes that mean each, and the one rule that
picks a result's format from what the caller gave. Torch-free, at the bottom of the house:
requests, writers and exporters all read it."""
from __future__ import annotations

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
