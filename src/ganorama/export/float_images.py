"""Float image files: 16-bit PNG, OpenEXR and Radiance RGBE, written from float pixels.

The composition is float; these writers take it as it is, a (3, H, W) tensor of
sRGB-encoded values in [0, 1], so nothing passes through an 8-bit image on the way:

- ``png16``: 48-bit RGB PNG (pypng), the sRGB values rounded to 16 bits; XMP and text go
  in ``iTXt`` chunks as in the 8-bit PNG.
- ``exr``: OpenEXR (the ASWF bindings), linear light (the sRGB curve decoded), 32-bit
  float by default or half; the sidecar JSON and the ``envmap`` kind go in the header.
- ``hdr``: Radiance RGBE, linear light. No maintained Python writer fits (imageio's
  needs FreeImage downloaded at run time), so this module writes it: the header, then
  each scanline run-length encoded as the format's "new" scanlines with literal runs
  only, which every reader takes and which no pixel value can be mistaken for.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ganorama.errors import UsageError
from ganorama.files import write_with
from ganorama.formats import FLOAT_FORMATS

# IEC 61966-2-1 (sRGB) transfer function: linear segment below these, power law above.
SRGB_ENCODED_KNEE = 0.04045
SRGB_LINEAR_KNEE = 0.0031308
PNG16_MAX = 65535
# Radiance scanlines can be run-length encoded only between these widths; outside
# them, readers take flat RGBE pixels.
RGBE_RLE_WIDTHS = (8, 0x7FFF)
RGBE_LITERAL_RUN = 128  # at most this many literal bytes follow one count byte


def srgb_to_linear(encoded: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values -> linear light, element-wise, same shape and dtype."""
    return torch.where(encoded <= SRGB_ENCODED_KNEE, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Linear light -> sRGB-encoded values, element-wise (negatives clamp to 0)."""
    linear = linear.clamp(min=0)
    return torch.where(linear <= SRGB_LINEAR_KNEE, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def _rows_last(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor -> (H, W, 3) float32 numpy array on the CPU."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an RGB image tensor (3, H, W), got shape {tuple(image.shape)}")
    return image.detach().to("cpu", torch.float32).permute(1, 2, 0).contiguous().numpy()


def png16_bytes(image: torch.Tensor, text: Mapping[str, str] | None = None) -> bytes:
    """(3, H, W) sRGB in [0, 1] -> a 48-bit RGB PNG file's bytes, with an ``iTXt`` chunk
    per ``text`` item (keyword -> UTF-8 text) before the image data."""
    import io

    import png

    pixels = np.round(np.clip(_rows_last(image), 0, 1) * PNG16_MAX).astype(np.uint16)
    height, width, _ = pixels.shape
    buffer = io.BytesIO()
    png.Writer(width, height, greyscale=False, bitdepth=16).write(buffer, pixels.reshape(height, width * 3))
    chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
    extra = [(b"iTXt", _itxt(keyword, value)) for keyword, value in (text or {}).items()]
    out = io.BytesIO()
    png.write_chunks(out, chunks[:1] + extra + chunks[1:])  # IHDR first, as the format requires
    return out.getvalue()


def _itxt(keyword: str, text: str) -> bytes:
    """An uncompressed ``iTXt`` chunk's data: keyword, flags, empty language and
    translated keyword, the UTF-8 text."""
    return keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")


def read_png16(path: str | os.PathLike) -> torch.Tensor:
    """A 16-bit RGB PNG -> (3, H, W) float32 in [0, 1] (sRGB-encoded, as stored)."""
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    scale = float(2 ** info["bitdepth"] - 1)
    rgb = np.repeat(array[..., :1], 3, axis=-1) if planes < 3 else array[..., :3]
    return torch.from_numpy(rgb.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def png_bit_depth(path: str | os.PathLike) -> int | None:
    """The bit depth a PNG file's header states, None if it is not a PNG."""
    with open(path, "rb") as file:
        head = file.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24]


def write_exr(linear: torch.Tensor, path: Path, attributes: Mapping[str, str] | None = None,
              half: bool = False, envmap: str | None = None) -> None:  # fmt: skip
    """Write (3, H, W) linear-light values as an OpenEXR file (ZIP-compressed R, G, B),
    float32 or ``half``, with string header ``attributes`` and the ``envmap`` kind
    ('latlong' for an equirect, 'cube' for a cube map) when given."""
    import OpenEXR

    pixels = _rows_last(linear)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if envmap is not None:
        header["envmap"] = {"latlong": OpenEXR.ENVMAP_LATLONG, "cube": OpenEXR.ENVMAP_CUBE}[envmap]
    header.update({str(key): str(value) for key, value in (attributes or {}).items()})
    OpenEXR.File(header, {"RGB": pixels.astype(np.float16) if half else pixels}).write(str(path))


def read_exr(path: str | os.PathLike) -> tuple[torch.Tensor, dict]:
    """An OpenEXR file's RGB as (3, H, W) float32 linear light, and its header."""
    import OpenEXR

    file = OpenEXR.File(str(path))
    channels, header = file.channels(), file.header()
    if "RGB" in channels or "RGBA" in channels:  # the bindings group interleaved channels by name
        rgb = channels["RGB" if "RGB" in channels else "RGBA"].pixels[..., :3]
    elif all(name in channels for name in "RGB"):
        rgb = np.stack([channels[name].pixels for name in "RGB"], axis=-1)
    else:
        raise UsageError(f"{path} has no R, G, B channels (it has {', '.join(sorted(channels))})")
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1).contiguous(), header


def exr_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an OpenEXR file, from its header alone."""
    import OpenEXR

    try:
        low, high = OpenEXR.File(str(path), header_only=True).header()["dataWindow"]
    except Exception as error:  # the bindings raise plain exceptions for unreadable files
        raise UsageError(f"{path} could not be read as an OpenEXR image: {error}") from None
    return int(high[1] - low[1] + 1), int(high[0] - low[0] + 1)


def rgbe_bytes(linear: torch.Tensor, header_lines: tuple[str, ...] = ()) -> bytes:
    """(3, H, W) linear light -> a Radiance RGBE (.hdr) file's bytes, top row first.

    Each pixel is a shared exponent e and three 8-bit mantissas: value = (m + 0.5) /
    256 * 2 ** (e - 128) as readers decode it, the brightest channel's mantissa in
    128..255 (Greg Ward's float2rgbe)."""
    pixels = np.clip(_rows_last(linear), 0, None)
    height, width, _ = pixels.shape
    brightest = pixels.max(axis=-1)
    mantissa, exponent = np.frexp(brightest)  # brightest = mantissa * 2**exponent, mantissa in [0.5, 1)
    lit = brightest > 1e-32
    scale = np.where(lit, mantissa * 256.0 / np.where(lit, brightest, 1), 0)
    rgbe = np.empty((height, width, 4), dtype=np.uint8)
    rgbe[..., :3] = np.minimum(pixels * scale[..., None], 255).astype(np.uint8)
    rgbe[..., 3] = np.where(lit, exponent + 128, 0).astype(np.uint8)
    lines = ["#?RADIANCE", *header_lines, "FORMAT=32-bit_rle_rgbe", "", f"-Y {height} +X {width}", ""]
    head = "\n".join(lines).encode("ascii")
    low, high = RGBE_RLE_WIDTHS
    if not low <= width <= high:
        return head + rgbe.tobytes()
    return head + _rle_scanlines(rgbe)


def _rle_scanlines(rgbe: np.ndarray) -> bytes:
    """(H, W, 4) RGBE bytes -> "new" run-length scanlines: per row 2, 2, W (16 bits),
    then each of the four components as literal runs of at most 128 bytes."""
    height, width, _ = rgbe.shape
    planes = rgbe.transpose(0, 2, 1)  # (H, 4, W): one component's row after another
    parts = []
    for start in range(0, width, RGBE_LITERAL_RUN):
        run = planes[..., start : start + RGBE_LITERAL_RUN]
        count = np.full(run.shape[:2] + (1,), run.shape[-1], dtype=np.uint8)
        parts.append(np.concatenate((count, run), axis=-1))
    body = np.concatenate(parts, axis=-1).reshape(height, -1)
    marker = np.tile(np.array([2, 2, width >> 8, width & 0xFF], dtype=np.uint8), (height, 1))
    return np.concatenate((marker, body), axis=-1).tobytes()


def save_float_image(image: torch.Tensor, path: str | os.PathLike, format: str,
                     text: Mapping[str, str] | None = None, envmap: str | None = None,
                     half: bool = False) -> Path:  # fmt: skip
    """Write (3, H, W) sRGB values in [0, 1] to ``path`` as ``format`` (one of
    FLOAT_FORMATS), atomically and never over an existing file. ``text``: metadata,
    where the format has room (PNG ``iTXt`` chunks, EXR header attributes; Radiance
    files keep only the software line); ``envmap``: 'latlong' or 'cube' for EXR."""
    if format not in FLOAT_FORMATS:
        raise UsageError(f"format {format!r} is not a float format; allowed: {', '.join(FLOAT_FORMATS)}")
    if format == "png16":
        data = png16_bytes(image, text)
        return write_with(path, lambda temp: Path(temp).write_bytes(data))
    linear = srgb_to_linear(image.detach().float().clamp(0, 1))
    if format == "exr":
        return write_with(path, lambda temp: write_exr(linear, Path(temp), text, half=half, envmap=envmap))
    from ganorama import __version__

    data = rgbe_bytes(linear, (f"SOFTWARE=ganorama {__version__}",))
    return write_with(path, lambda temp: Path(temp).write_bytes(data))

