"""GPano XMP in PNG and JPEG, read back with an independent reader (exiftool)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from ganorama.errors import UsageError
from ganorama.export.metadata import GPANO_NAMESPACE, save_panorama, xmp_packet

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool not installed (Debian: apt-get install libimage-exiftool-perl)"
)


def _panorama(width: int = 128, height: int = 64) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 2 % 256, y * 4 % 256, 128) for y in range(height) for x in range(width)])
    return image


def _exiftool(path) -> dict[str, str]:
    """exiftool's human-readable tag names -> values."""
    output = subprocess.run([EXIFTOOL, str(path)], capture_output=True, text=True, check=True).stdout
    tags = {}
    for line in output.splitlines():
        name, _, value = line.partition(":")
        tags[name.strip()] = value.strip()
    return tags


def test_xmp_packet_is_xml_with_the_gpano_properties():
    packet = xmp_packet(128, 64)
    assert packet.startswith("<?xpacket begin=") and packet.endswith('<?xpacket end="w"?>')
    root = ET.fromstring(re.sub(r"<\?xpacket[^>]*\?>", "", packet))
    prefix = "{" + GPANO_NAMESPACE + "}"
    values = {element.tag[len(prefix) :]: element.text for element in root.iter() if element.tag.startswith(prefix)}
    assert values == {
        "ProjectionType": "equirectangular",
        "UsePanoramaViewer": "True",
        "FullPanoWidthPixels": "128",
        "FullPanoHeightPixels": "64",
        "CroppedAreaImageWidthPixels": "128",
        "CroppedAreaImageHeightPixels": "64",
        "CroppedAreaLeftPixels": "0",
        "CroppedAreaTopPixels": "0",
    }


def test_xmp_packet_refuses_non_equirect_sizes():
    with pytest.raises(UsageError, match="2:1"):
        xmp_packet(100, 64)


@needs_exiftool
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg"])
def test_exiftool_reads_the_gpano_metadata(tmp_path, suffix):
    path = save_panorama(_panorama(), tmp_path / f"pano{suffix}")
    tags = _exiftool(path)
    assert tags["Projection Type"] == "equirectangular"
    assert tags["Use Panorama Viewer"] == "True"
    assert tags["Full Pano Width Pixels"] == "128"
    assert tags["Full Pano Height Pixels"] == "64"
    assert tags["Cropped Area Image Width Pixels"] == "128"
    assert tags["Cropped Area Image Height Pixels"] == "64"
    assert tags["Cropped Area Left Pixels"] == "0"
    assert tags["Cropped Area Top Pixels"] == "0"


def test_png_stores_xmp_as_itxt_and_extra_text(tmp_path):
    path = save_panorama(_panorama(), tmp_path / "pano.png", extra_text={"ganorama": '{"seed": 1}', "Comment": "é"})
    with Image.open(path) as image:
        assert image.format == "PNG"
        xmp = image.info["xmp"]
        assert "equirectangular" in (xmp.decode() if isinstance(xmp, bytes) else xmp)
        assert image.text["ganorama"] == '{"seed": 1}'
        assert image.text["Comment"] == "é"
    raw = path.read_bytes()
    assert b"iTXtXML:com.adobe.xmp\0" in raw  # chunk type then keyword


def test_jpeg_stores_xmp_in_app1_and_extra_text_as_comment(tmp_path):
    path = save_panorama(_panorama(), tmp_path / "pano.jpg", quality=90, extra_text={"seed": "7"})
    raw = path.read_bytes()
    assert b"\xff\xe1" in raw and b"http://ns.adobe.com/xap/1.0/\0" in raw
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert b"equirectangular" in image.info["xmp"]
        assert json.loads(image.info["comment"]) == {"seed": "7"}


def test_explicit_format_wins_over_suffix(tmp_path):
    path = save_panorama(_panorama(), tmp_path / "pano.img", format="jpg")
    with Image.open(path) as image:
        assert image.format == "JPEG"


def test_rgba_is_flattened_for_jpeg(tmp_path):
    path = save_panorama(_panorama().convert("RGBA"), tmp_path / "pano.jpg")
    with Image.open(path) as image:
        assert image.mode == "RGB"


def test_unknown_format_names_the_allowed_values(tmp_path):
    with pytest.raises(UsageError, match="allowed: png, jpg"):
        save_panorama(_panorama(), tmp_path / "pano.png", format="webp")
    with pytest.raises(UsageError, match="png, jpg"):
        save_panorama(_panorama(), tmp_path / "pano.tiff")
    assert list(tmp_path.iterdir()) == []


def test_never_overwrites(tmp_path):
    path = tmp_path / "pano.png"
    path.write_bytes(b"precious")
    with pytest.raises(UsageError, match="already exists"):
        save_panorama(_panorama(), path)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["pano.png"]  # no temporary left behind


def test_non_equirect_image_is_refused(tmp_path):
    with pytest.raises(UsageError, match="2:1"):
        save_panorama(_panorama(100, 64), tmp_path / "pano.png")
    assert not (tmp_path / "pano.png").exists()
