"""Reading panoramas: file errors, 2:1 check, sampling across the seam."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganorama.errors import UsageError
from ganorama.export.io import image_to_tensor, load_panorama, sample_equirect, tensor_to_image


def test_load_panorama(tmp_path):
    path = tmp_path / "pano.png"
    Image.new("RGBA", (64, 32), (255, 0, 0, 10)).save(path)
    tensor = load_panorama(path)
    assert tensor.shape == (3, 32, 64) and tensor.dtype == torch.float32
    assert torch.equal(tensor[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "truncated", "square"])
def test_load_panorama_errors(tmp_path, kind):
    path = tmp_path / "pano.png"
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "truncated":
        Image.new("RGB", (64, 32)).save(path)
        path.write_bytes(path.read_bytes()[:60])
    elif kind == "square":
        Image.new("RGB", (32, 32)).save(path)
    with pytest.raises(UsageError, match=str(path).replace("\\", "\\\\")):
        load_panorama(path)


def test_tensor_image_round_trip():
    tensor = torch.rand(3, 8, 16)
    back = image_to_tensor(tensor_to_image(tensor))
    assert (back - tensor).abs().max() <= 0.5 / 255 + 1e-6


def test_sample_equirect_wraps_in_longitude():
    panorama = torch.full((1, 4, 8), 0.5)
    panorama[..., 0] = 1.0  # first column
    panorama[..., -1] = 0.0  # last column
    # Straight back (lon = 180) lies halfway between the last and the first column.
    back = sample_equirect(panorama, torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]))
    assert back[0, 0].item() == pytest.approx(0.5)
    assert back[0, 1].item() == pytest.approx(0.5)



def test_panorama_size_reads_only_the_header(tmp_path, monkeypatch):
    from ganorama.export.io import panorama_size

    path = tmp_path / "pano.png"
    Image.new("RGB", (64, 32)).save(path)
    assert panorama_size(path) == (32, 64)
    assert panorama_size(torch.rand(3, 8, 16)) == (8, 16)
    assert panorama_size(Image.new("RGB", (20, 10))) == (10, 20)
    # Truncated pixel data is not noticed from the header (load_panorama notices it).
    path.write_bytes(path.read_bytes()[:60])
    assert panorama_size(path) == (32, 64)
    Image.new("RGB", (30, 30)).save(tmp_path / "square.png")
    (tmp_path / "notes.png").write_text("hello")
    for name, message in (("square.png", "2:1"), ("notes.png", "not an image"), ("missing.png", "does not exist")):
        with pytest.raises(UsageError, match=message):
            panorama_size(tmp_path / name)
    with pytest.raises(UsageError, match="2:1"):
        panorama_size(Image.new("RGB", (30, 30)))
