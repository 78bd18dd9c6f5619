"""A self-contained offline 360° viewer: one HTML file with the panorama inlined.

The page (``assets/viewer.html``) holds its own small WebGL viewer and the image as a
``data:`` URI, and its Content-Security-Policy forbids loading anything else, so it works
from a USB stick or an e-mail attachment with no network. It follows the project's
conventions (docs/design.md): the first view looks at the panorama's centre column with its
top row up, and dragging pulls the picture along with the pointer.
"""
from __future__ import annotations

import base64
import html
import io
import os
import re
from importlib import resources
from pathlib import Path

from ganorama.errors import UsageError
from ganorama.files import write_bytes_atomic
from ganorama.formats import open_image, pixel_limit_reason

#: Media a browser can decode that the viewer accepts, by MIME type: images and 360 videos.
SUPPORTED_MIME_TYPES = ("image/png", "image/jpeg", "video/mp4")
VIDEO_SUFFIXES = (".mp4", ".m4v")

_PIL_FORMAT_TO_MIME = {"PNG": "image/png", "JPEG": "image/jpeg"}
_PLACEHOLDER = re.compile(r"\{\{(TITLE|MEDIA)\}\}")


def _template() -> str:
    return resources.files("ganorama.export").joinpath("assets/viewer.html").read_text(encoding="utf-8")


def render_viewer_html(image_bytes: bytes, mime: str, title: str) -> str:
    """The viewer page for an encoded equirectangular image (``image/png`` or ``image/jpeg``)
    or 360 video (``video/mp4``, played as a looping video texture).

    The bytes are embedded unchanged; ``title`` is shown as the page title and in the
    overlay (HTML-escaped). No validation of the image itself happens here.
    """
    if mime not in SUPPORTED_MIME_TYPES:
        raise UsageError(f"image type {mime!r} is not supported by the viewer; use one of {', '.join(SUPPORTED_MIME_TYPES)}")
    if not image_bytes:
        raise UsageError("the panorama image is empty")
    uri = f"data:{mime};base64,{base64.b64encode(image_bytes).decode('ascii')}"
    # A video loops, starts muted (browsers play only muted media by themselves) and inline.
    media = (f'<video id="panorama" hidden loop muted playsinline autoplay src="{uri}"></video>'
             if mime.startswith("video/") else f'<img id="panorama" alt="" hidden src="{uri}">')  # fmt: skip
    values = {"TITLE": html.escape(" ".join(str(title).split()) or "Panorama"), "MEDIA": media}
    # One pass, so that a title which happens to contain a placeholder stays literal text.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], _template())


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _reason(error: Exception) -> str:
    """Pillow's message on one line, with the in-memory file it was reading (shown as
    ``<_io.BytesIO object at 0x...>``) called what it is: the image."""
    text = " ".join(str(error).split()) or error.__class__.__name__
    return _OBJECT_REPR.sub("image", text)


def read_panorama_for_viewer(panorama_path: str | os.PathLike) -> tuple[bytes, str]:
    """The bytes and MIME type of an existing PNG/JPEG equirect image with a 2:1 aspect.

    Raises :class:`UsageError` (one line) for a missing file, anything that is not a
    PNG/JPEG image, or an image whose width is not twice its height.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(panorama_path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    data = path.read_bytes()
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _checked_video(path, data), "video/mp4"
    try:
        with open_image(io.BytesIO(data)) as image:
            image_format = image.format
            width, height = image.size
            image.verify()  # catches truncated / corrupt files without decoding them fully
    except Image.DecompressionBombError as error:
        raise UsageError(f"{path} is too large to show in a browser: {pixel_limit_reason(error)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UsageError(f"{path} is not a readable PNG or JPEG image ({_reason(error)})") from None
    mime = _PIL_FORMAT_TO_MIME.get(image_format or "")
    if mime is None:
        raise UsageError(f"{path} is a {image_format} image; the viewer needs a PNG or JPEG")
    if width != 2 * height:
        raise UsageError(
            f"{path} is {width}x{height}; an equirectangular panorama must be twice as wide as it is tall (2:1)"
        )
    return data, mime


def _checked_video(path: Path, data: bytes) -> bytes:
    """An MP4's bytes, once its first video track is known to be 2:1 (equirectangular)."""
    from ganorama.errors import GanoramaError
    from ganorama.export.spherical import video_size

    try:
        size = video_size(data) if data[4:8] == b"ftyp" else None
    except GanoramaError as error:
        raise UsageError(f"{path} is not a readable MP4 ({error})") from None
    if size is None:
        raise UsageError(f"{path} is not an MP4 video (no video track found); the viewer plays H.264 MP4s")
    width, height = size
    if width != 2 * height:
        raise UsageError(f"{path} is {width}x{height}; a 360 video must be twice as wide as it is tall (2:1)")
    return data


def default_viewer_path(panorama_path: str | os.PathLike) -> Path:
    """``PANO.png`` -> ``PANO.html`` beside it."""
    return Path(panorama_path).with_suffix(".html")


def save_viewer(
    panorama_path: str | os.PathLike,
    output_path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Path:
    """Write the viewer page for ``panorama_path`` to ``output_path`` and return that path.

    ``output_path`` (.html or .htm) defaults to the panorama's name with ``.html``;
    ``title`` to the panorama's file name stem. The output is checked before the
    panorama is read (suffix, not existing, writable, disk space); it is written
    atomically and never replaces an existing file (:class:`UsageError`).
    """
    from ganorama.export.paths import check_output_file
    from ganorama.resources import check_disk

    output = Path(output_path) if output_path is not None else default_viewer_path(panorama_path)
    check_output_file(output, (".html", ".htm"), "viewer output")
    source = Path(panorama_path)
    if source.is_file():
        # The page holds the image base64-encoded (4/3 of its size) and the viewer code.
        check_disk(source.stat().st_size * 4 // 3 + len(_template()), output, "the viewer page")
    data, mime = read_panorama_for_viewer(panorama_path)
    page = render_viewer_html(data, mime, Path(panorama_path).stem if title is None else title)
    return write_bytes_atomic(output, page.encode("utf-8"))
