"""Reading equirectangular panoramas: from files, from images, and at 3-D directions.

Every exporter (cubemap, mesh, turntable, point cloud) takes a panorama as a float
tensor (C, H, W) in [0, 1] with W = 2 H, in the conventions of :mod:`ganorama.geometry`.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.formats import open_image, pixel_limit_reason

# What the exporters accept where a panorama is expected.
PanoramaSource = Union[str, os.PathLike, "PIL.Image.Image", torch.Tensor]  # noqa: F821


def load_panorama(path: str | os.PathLike) -> torch.Tensor:
    """Read an equirect image file -> (3, H, W) float32 in [0, 1], sRGB-encoded: PNG or
    JPEG, a 16-bit PNG at its full precision, or an OpenEXR file (linear light, encoded
    here; values above 1 clip).

    Raises UsageError (one line, naming the file) for a missing file, something that
    is not an image, or an image that is not twice as wide as it is tall."""
    float_kind = _float_file_kind(path)
    if float_kind is not None:
        tensor = _read_float_file(path, float_kind)
    else:
        with _opened_image(path) as image:
            image.load()
            tensor = image_to_tensor(image)
    check_equirect_shape(tensor, name=str(path))
    return tensor


def _float_file_kind(path: str | os.PathLike) -> str | None:
    """'exr' or 'png16' for a file this module reads without Pillow (Pillow reads only
    8 bits of a 48-bit PNG, and no EXR at all); None for the others."""
    from ganorama.export.float_images import png_bit_depth

    path = Path(path)
    if not path.is_file():
        return None  # the Pillow path names what is wrong
    suffix = path.suffix.lower()
    if suffix == ".exr":
        return "exr"
    if suffix == ".hdr":
        raise UsageError(f"{path}: Radiance .hdr panoramas cannot be read; give the panorama as .exr, .png or .jpg")
    if suffix == ".png" and png_bit_depth(path) == 16:
        return "png16"
    return None


def _read_float_file(path: str | os.PathLike, kind: str) -> torch.Tensor:
    from ganorama.export.float_images import linear_to_srgb, read_exr, read_png16

    try:
        if kind == "png16":
            return read_png16(path)
        return linear_to_srgb(read_exr(path)[0]).clamp(0, 1)
    except UsageError:
        raise
    except Exception as error:  # pypng and the OpenEXR bindings raise their own kinds
        raise UsageError(f"{path} could not be read as an image: {error}") from None


@contextlib.contextmanager
def _opened_image(path: str | os.PathLike):
    """The image file at ``path``, opened with Pillow; every way it can fail to be read
    (missing, a directory, not an image, truncated) becomes one UsageError naming it."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        raise UsageError(f"{path} is a directory; expected an equirectangular image file")
    try:
        with open_image(path) as image:
            yield image
    except Image.DecompressionBombError as error:
        raise UsageError(f"{path} is too large to read: {pixel_limit_reason(error)}") from None
    except UnidentifiedImageError as error:
        raise UsageError(f"{path} is not an image that can be read ({error.__class__.__name__})") from None
    except OSError as error:  # truncated or corrupt image data
        raise UsageError(f"{path} could not be read as an image: {error}") from None


def panorama_size(source: PanoramaSource) -> tuple[int, int]:
    """(height, width) of a panorama path, PIL image or (C, H, W) tensor, checked to be
    2:1, reading only a file's header: what exporters need to size their work before
    decoding anything. Raises UsageError as :func:`load_panorama` does."""
    if isinstance(source, torch.Tensor):
        check_equirect_shape(source)
        return int(source.shape[-2]), int(source.shape[-1])
    if not isinstance(source, (str, os.PathLike)):
        width, height = source.size  # a PIL image
    elif _float_file_kind(source) == "exr":
        from ganorama.export.float_images import exr_size

        height, width = exr_size(source)
        source = str(Path(source))
    else:
        with _opened_image(source) as image:
            width, height = image.size
        source = str(Path(source))
    check_equirect_size(width, height, source if isinstance(source, str) else "image")
    return height, width


def check_equirect_size(width: int, height: int, name: str = "panorama") -> None:
    """UsageError unless a ``width`` x ``height`` image is a full equirect panorama (2:1)."""
    if height < 1 or width != 2 * height:
        raise UsageError(
            f"{name} is {width}x{height}; an equirectangular panorama must be exactly twice as wide as it is tall (2:1)"
        )


def image_to_tensor(image) -> torch.Tensor:
    """PIL image (any mode) -> (3, H, W) float32 in [0, 1]; alpha is dropped."""
    import numpy as np

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to [0, 1] ourselves, Pillow's RGB conversion clips at 255.
        array = np.asarray(image, dtype=np.float32) / 65535.0
        return torch.from_numpy(array).clamp(0, 1)[None].expand(3, -1, -1).contiguous()
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def tensor_to_image(tensor: torch.Tensor):
    """(3, H, W) or (1, H, W) in [0, 1] -> 8-bit RGB PIL image (values are clamped)."""
    from PIL import Image

    if tensor.dim() != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(f"expected an image tensor (3, H, W) or (1, H, W), got shape {tuple(tensor.shape)}")
    array = (tensor.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).expand(3, -1, -1)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")


def save_image(image, path: str | os.PathLike, format: str, quality: int = 95, envmap: str | None = None) -> Path:
    """Write an image to ``path`` in ``format`` (any of FORMATS), atomically and never
    over an existing file: a (3, H, W) tensor in [0, 1] (the float formats take its float
    values; ``envmap`` 'latlong' or 'cube' marks an EXR), or a PIL image for png/jpg."""
    from ganorama.files import write_with
    from ganorama.formats import FLOAT_FORMATS

    if format in FLOAT_FORMATS:
        from ganorama.export.float_images import save_float_image

        return save_float_image(image, path, format, envmap=envmap)
    picture = tensor_to_image(image) if isinstance(image, torch.Tensor) else image
    if format == "jpg":
        return write_with(path, lambda temp: picture.save(temp, "JPEG", quality=quality))
    return write_with(path, lambda temp: picture.save(temp, "PNG"))


def check_equirect_shape(tensor: torch.Tensor, name: str = "panorama") -> None:
    """UsageError unless ``tensor`` is (C, H, W) with W = 2 H (an equirect image)."""
    if tensor.dim() != 3:
        raise UsageError(f"{name} must be an image (C, H, W), got a tensor of shape {tuple(tensor.shape)}")
    check_equirect_size(tensor.shape[-1], tensor.shape[-2], name)


def as_panorama(source: PanoramaSource) -> torch.Tensor:
    """A path, PIL image or (C, H, W) tensor -> (C, H, W) float tensor, checked to be 2:1."""
    if isinstance(source, (str, os.PathLike)):
        return load_panorama(source)
    if isinstance(source, torch.Tensor):
        check_equirect_shape(source)
        return source if source.is_floating_point() else source.float() / 255.0
    if hasattr(source, "mode") and hasattr(source, "size"):  # a PIL image, without importing PIL here
        tensor = image_to_tensor(source)
        check_equirect_shape(tensor, name="image")
        return tensor
    raise UsageError(f"expected a panorama path, PIL image or tensor, got {type(source).__name__}")


def sample_equirect(equirect: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of an equirect image at world directions.

    equirect (C, H, W) float; directions (..., 3) in the world frame of
    :mod:`ganorama.geometry` (any length) -> (C, ...) on equirect's device.

    Longitude wraps: the image is padded circularly by one column on each side first,
    so a direction between the last and the first column blends those two instead of
    clamping to one. Latitude clamps at the top and bottom rows (the poles)."""
    channels, height, width = equirect.shape
    padded = torch.cat((equirect[..., -1:], equirect, equirect[..., :1]), dim=-1)
    grid = geometry.direction_to_equirect_grid(directions.to(equirect.device, equirect.dtype))
    # grid x spans the W original columns over [-1, 1]; the padded image has W + 2 of the
    # same columns over [-1, 1], so shrink x to land on the same pixels.
    grid = torch.stack((grid[..., 0] * (width / (width + 2)), grid[..., 1]), dim=-1)
    batch_shape = grid.shape[:-1]
    samples = F.grid_sample(
        padded[None], grid.reshape(1, 1, -1, 2), mode="bilinear", padding_mode="border", align_corners=False
    )
    return samples.reshape(channels, *batch_shape)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(3, ...) RGB in [0, 1] -> (...) Rec. 709 luma; a single channel is returned as is."""
    if image.shape[0] == 1:
        return image[0]
    weights = torch.tensor((0.2126, 0.7152, 0.0722), device=image.device, dtype=image.dtype)
    return torch.einsum("c...,c->...", image[:3], weights)
