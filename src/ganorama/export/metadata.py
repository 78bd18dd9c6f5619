"""Saving panoramas with the 360-degree metadata viewers look for (Google's GPano XMP).

Photo viewers (Google Photos, Facebook, Flickr, Kuula, ...) show an image as an
interactive 360-degree panorama when it carries the GPano XMP properties: projection
type, and the size of the full panorama and of the stored (cropped) area. Our
panoramas are complete 2:1 equirect images, so the cropped area is the full image.

Where the XMP packet goes:
- PNG: an ``iTXt`` chunk with the keyword ``XML:com.adobe.xmp`` (the XMP spec, part 3);
- JPEG: an APP1 segment starting ``http://ns.adobe.com/xap/1.0/\\0`` (Pillow writes it
  from ``save(..., xmp=...)``).

Float images (:func:`float_image_metadata`): a 16-bit PNG carries the same ``iTXt``
packet; an EXR the sidecar JSON as a string header attribute; a Radiance file nothing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping
from xml.sax.saxutils import escape

from ganorama.errors import UsageError
from ganorama.files import write_with
from ganorama.formats import resolve_format


XMP_PNG_KEYWORD = "XML:com.adobe.xmp"
GPANO_NAMESPACE = "http://ns.google.com/photos/1.0/panorama/"
# The EXR header attribute that holds a result's sidecar JSON.
EXR_SIDECAR_ATTRIBUTE = "ganorama"


def xmp_packet(width: int, height: int) -> str:
    """The XMP packet (a complete ``<?xpacket ...?>`` string) marking a ``width`` x
    ``height`` image as a full equirectangular 360-degree panorama."""
    from ganorama.export.io import check_equirect_size

    width, height = int(width), int(height)
    check_equirect_size(width, height, "the image")
    properties = (
        ("ProjectionType", "equirectangular"),
        ("UsePanoramaViewer", "True"),
        ("FullPanoWidthPixels", width),
        ("FullPanoHeightPixels", height),
        ("CroppedAreaImageWidthPixels", width),
        ("CroppedAreaImageHeightPixels", height),
        ("CroppedAreaLeftPixels", 0),
        ("CroppedAreaTopPixels", 0),
    )
    body = "\n".join(f"   <GPano:{name}>{escape(str(value))}</GPano:{name}>" for name, value in properties)
    # The packet wrapper (begin = BOM, the fixed id) is what XMP scanners search for.
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="ganorama">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" xmlns:GPano="{GPANO_NAMESPACE}">\n'
        f"{body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def float_image_metadata(format: str, sidecar_json: str, panorama_width: int | None = None) -> dict[str, str]:
    """The text a float image file carries, where its format has room: a 16-bit PNG the
    GPano XMP of a ``panorama_width`` x width/2 equirect (None: not a panorama) as 8-bit
    PNGs do; an EXR the sidecar JSON as a header attribute; a Radiance file nothing."""
    if format == "png16":
        return {} if panorama_width is None else {XMP_PNG_KEYWORD: xmp_packet(panorama_width, panorama_width // 2)}
    if format == "exr":
        return {EXR_SIDECAR_ATTRIBUTE: sidecar_json}
    return {}


def save_panorama(
    image,
    path: str | os.PathLike,
    format: str | None = None,
    quality: int = 95,
    extra_text: Mapping[str, str] | None = None,
) -> Path:
    """Write a 2:1 equirect PIL ``image`` to ``path`` with GPano XMP metadata.

    ``format``: 'png' or 'jpg' (None: from the suffix). ``quality``: JPEG quality 1-100.
    ``extra_text``: more key/value text to keep with the image, e.g. the generation
    parameters: PNG stores each as an ``iTXt`` chunk; JPEG stores them as one JSON
    object in a comment (COM) segment. Written atomically; an existing ``path`` is never
    replaced (UsageError). Returns the path written."""
    from PIL.PngImagePlugin import PngInfo

    fmt = resolve_format(path, format)
    if not 1 <= int(quality) <= 100:
        raise UsageError(f"JPEG quality {quality} is out of range; allowed: 1 to 100")
    width, height = image.size
    packet = xmp_packet(width, height)
    extra = {str(key): str(value) for key, value in (extra_text or {}).items()}
    for key in extra:
        # PNG keywords: 1-79 Latin-1 characters; the same rule keeps JPEG keys sane.
        if not 1 <= len(key) <= 79 or key == XMP_PNG_KEYWORD or not key.isprintable():
            raise UsageError(f"extra_text key {key!r} is not allowed; use 1-79 printable characters")
        try:
            key.encode("latin-1")
        except UnicodeEncodeError:
            raise UsageError(f"extra_text key {key!r} must be Latin-1 text") from None

    if fmt == "png":
        info = PngInfo()
        info.add_itxt(XMP_PNG_KEYWORD, packet)
        for key, value in extra.items():
            info.add_itxt(key, value)

        def writer(temp: Path) -> None:
            image.save(temp, "PNG", pnginfo=info)

    else:
        rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
        options = {"quality": int(quality), "xmp": packet.encode("utf-8")}
        if extra:
            options["comment"] = json.dumps(extra, ensure_ascii=False).encode("utf-8")

        def writer(temp: Path) -> None:
            rgb.save(temp, "JPEG", **options)

    return write_with(path, writer)
