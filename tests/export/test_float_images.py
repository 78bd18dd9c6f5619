"""Float outputs (16-bit PNG, OpenEXR, Radiance .hdr) carry the float composition: read
back by independent readers (the OpenEXR bindings, pypng, imagecodecs' RGBE, exiftool)
they equal it to the format's precision, and a perspective render of the file reaches
the float composition's own projection fidelity where 8 bits cannot."""
from __future__ import annotations

import json
import math
import shutil
import subprocess

import imagecodecs
import numpy as np
import png
import pytest
import torch

from ganorama import geometry
from ganorama.canvas.sphere import SphereCanvas
from ganorama.export.cubemap import save_cubemap
from ganorama.export.float_images import (
    linear_to_srgb,
    read_exr,
    read_png16,
    rgbe_bytes,
    save_float_image,
    srgb_to_linear,
)
from ganorama.export.io import load_panorama, panorama_size, sample_equirect
from ganorama.export.metadata import EXR_SIDECAR_ATTRIBUTE, XMP_PNG_KEYWORD
from ganorama.request import Request
from ganorama.result import Provenance, Result


def smooth_colour(directions: torch.Tensor) -> torch.Tensor:
    """(..., 3) directions -> (3, ...) colours in (0, 1): low-frequency, continuous on the
    sphere, so bilinear sampling of a fine equirect is accurate far past 8 bits."""
    x, y, z = directions.double().unbind(-1)
    return torch.stack((0.5 + 0.3 * x * z, 0.5 + 0.25 * y + 0.1 * x, 0.5 + 0.3 * torch.sin(z + 0.5 * x)))


def composition(height: int = 128) -> torch.Tensor:
    """A float 'composition' (3, H, 2H) float32: the smooth colours at the pixel centres."""
    return smooth_colour(geometry.equirect_directions(height, 2 * height, dtype=torch.float64)).float()


def _result(image: torch.Tensor, format: str) -> Result:
    canvas = SphereCanvas.from_layout("cube")
    request = Request(seed=3, classes="sandbar", max_views=6, format=format,
                      panorama_width=image.shape[-1], panorama_height=image.shape[-2])  # fmt: skip
    provenance = Provenance("biggan-deep-128", None, 128, "float32", "cpu")
    views = torch.zeros(canvas.num_views, 3, 4, 4)
    return Result(image, views, request, canvas, [{977: 1.0}] * canvas.num_views, provenance)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def test_srgb_curve_round_trips_and_matches_the_standard_points():
    values = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(values)), values, atol=1e-12)
    assert srgb_to_linear(torch.tensor(0.5, dtype=torch.float64)).item() == pytest.approx(0.21404, abs=1e-5)
    assert srgb_to_linear(torch.tensor(1.0)).item() == pytest.approx(1.0)


def test_exr_float_reads_back_exactly_the_linear_composition_with_the_sidecar_in_its_header(tmp_path):
    image = composition(32)
    result = _result(image, "exr")
    written = result.save(tmp_path / "pano.exr")
    assert [path.name for path in written] == ["pano.exr", "pano.json"]
    pixels, header = read_exr(tmp_path / "pano.exr")
    assert pixels.dtype == torch.float32
    assert torch.equal(pixels, srgb_to_linear(image.clamp(0, 1)))
    assert str(header["envmap"]).endswith("LATLONG")
    assert json.loads(header[EXR_SIDECAR_ATTRIBUTE]) == json.loads((tmp_path / "pano.json").read_text())
    # Read back as a panorama (sRGB-encoded again) it is the composition to float32 rounding.
    assert (load_panorama(tmp_path / "pano.exr") - image).abs().max() < 1e-6
    assert panorama_size(tmp_path / "pano.exr") == (32, 64)


def test_exr_half_is_within_half_precision(tmp_path):
    image = composition(16)
    save_float_image(image, tmp_path / "half.exr", "exr", half=True)
    pixels, _ = read_exr(tmp_path / "half.exr")
    linear = srgb_to_linear(image)
    assert ((pixels - linear).abs() <= linear.abs() * 2.0**-11 + 2.0**-25).all()


def test_16_bit_png_reads_back_within_half_a_step_of_65535_and_carries_the_xmp(tmp_path):
    image = composition(32)
    _result(image, "png16").save(tmp_path / "pano.png")
    back = read_png16(tmp_path / "pano.png")
    assert (back - image).abs().max() <= 0.5 / 65535 + 1e-7
    reader = png.Reader(filename=str(tmp_path / "pano.png"))  # pypng checks every chunk's CRC
    chunks = dict(reader.chunks())
    assert chunks[b"iTXt"].startswith(XMP_PNG_KEYWORD.encode() + b"\0")
    assert b"<GPano:ProjectionType>equirectangular</GPano:ProjectionType>" in chunks[b"iTXt"]
    assert png.Reader(filename=str(tmp_path / "pano.png")).read()[3]["bitdepth"] == 16


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_exiftool_reads_the_gpano_xmp_of_a_16_bit_png(tmp_path):
    _result(composition(16), "png16").save(tmp_path / "pano.png")
    out = subprocess.run(["exiftool", "-j", "-XMP-GPano:all", "-BitDepth", str(tmp_path / "pano.png")],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    tags = json.loads(out.stdout)[0]
    assert tags["ProjectionType"] == "equirectangular" and tags["FullPanoWidthPixels"] == 32 and tags["BitDepth"] == 16


@pytest.mark.parametrize("width", [4, 64, 300])  # flat scanlines below 8 px; run-length ones above
def test_radiance_hdr_is_read_back_by_an_independent_rgbe_decoder(tmp_path, width):
    image = composition(width // 2)
    path = save_float_image(image, tmp_path / "pano.hdr", "hdr")
    decoded = torch.from_numpy(imagecodecs.rgbe_decode(path.read_bytes()).copy()).permute(2, 0, 1)
    linear = srgb_to_linear(image)
    # RGBE: one 8-bit mantissa per channel under the brightest channel's exponent.
    assert ((decoded - linear).abs() <= linear.max(dim=0).values / 128 + 1e-7).all()
    assert path.read_bytes().startswith(b"#?RADIANCE\nSOFTWARE=ganorama")


def test_rgbe_keeps_black_black_and_a_first_pixel_2_2_from_looking_like_a_run_header():
    image = torch.zeros(3, 2, 16)
    image[:, 0, 0] = torch.tensor([2, 2, 1]) / 256.0  # would read as a "new RLE" marker in a flat file
    decoded = imagecodecs.rgbe_decode(rgbe_bytes(image))
    assert np.allclose(decoded[..., :], image.permute(1, 2, 0).numpy(), atol=1 / 256)
    assert decoded[1].max() == 0


def perspective_oracle_psnr(equirect: torch.Tensor) -> float:
    """Render five perspective views (90 degrees, 48 px) by sampling ``equirect`` and
    compare them with the exact colours at the same rays: the projection oracle."""
    angles = torch.tensor([[0.0, 0.0], [90.0, 0.0], [200.0, 30.0], [45.0, -60.0], [300.0, 75.0]])
    rotation = geometry.view_rotation(torch.deg2rad(angles[:, 0]), torch.deg2rad(angles[:, 1]), torch.zeros(5))
    rays = geometry.view_rays(rotation, torch.full((5,), math.radians(90)), 48, 48)
    rendered = sample_equirect(equirect.double(), rays.double())
    return psnr(rendered, smooth_colour(rays))


def test_16_bit_png_and_exr_reach_the_float_compositions_projection_fidelity_and_8_bit_does_not(tmp_path):
    image = composition(64)
    float_psnr = perspective_oracle_psnr(image)
    result = _result(image, "png")
    result.save(tmp_path / "8bit.png")
    result.save(tmp_path / "16bit.png", format="png16")
    result.save(tmp_path / "float.exr", format="exr")
    files = {name: load_panorama(tmp_path / name) for name in ("8bit.png", "16bit.png", "float.exr")}
    # The files against the composition, pixel for pixel: 8 bits quantise at about 59 dB.
    assert psnr(files["8bit.png"], image) < 60 and psnr(files["16bit.png"], image) > 100
    eight, sixteen, exr = (perspective_oracle_psnr(files[name]) for name in files)
    assert float_psnr > 75  # the composition itself: bilinear sampling of a smooth sphere
    assert eight < 64  # interpolation averages the quantisation a little, no more
    assert sixteen >= float_psnr - 0.1 and exr >= float_psnr - 0.01, (float_psnr, eight, sixteen, exr)


def test_cube_faces_in_float_formats_are_sampled_from_the_float_panorama(tmp_path):
    from ganorama.export.cubemap import equirect_to_cubemap

    image = composition(32)
    expected = equirect_to_cubemap(image, face_size=16)
    written = save_cubemap(image, tmp_path / "cube", face_size=16, format="png16")
    assert written["px"].name == "px.png"
    for name, face in expected.items():
        assert (read_png16(written[name]) - face.clamp(0, 1)).abs().max() <= 0.5 / 65535 + 1e-6, name
    exr = save_cubemap(image, tmp_path / "cube_exr", face_size=16, format="exr")
    assert torch.allclose(read_exr(exr["pz"])[0], srgb_to_linear(expected["pz"]), atol=1e-7)
    hdr = save_cubemap(image, tmp_path / "cube_hdr", face_size=16, format="hdr")
    assert hdr["cross"].name == "cross.hdr" and imagecodecs.rgbe_decode(hdr["cross"].read_bytes()).shape == (48, 64, 3)


def test_numbered_results_and_batch_rows_get_the_formats_suffix(tmp_path):
    from ganorama.batch.jobs import parse_jobs
    from ganorama.outputs import save_numbered_result

    written = save_numbered_result(_result(composition(8), "png16"), tmp_path)
    assert [path.name for path in written] == ["0.png", "0.json"] and read_png16(written[0]).shape == (3, 8, 16)
    rows = parse_jobs('{"id": "a", "format": "exr"}\n{"id": "b", "format": "hdr"}\n', "jobs.jsonl")
    assert [row.image_name for row in rows] == ["a.exr", "b.hdr"]
