"""Engine presets, checked against each engine's documented convention with a panorama
whose colour encodes its direction: every face of every file must show the directions
the engine will look it up at, so a swapped, mirrored or turned face fails.

The expectations here are written from the engines' documents, not from the preset
table: the OpenGL rule that maps a lookup direction to a face and a pixel (the cube map
section of the OpenGL / WebGL specs, which Unity, Babylon.js, three.js, Godot and the
GPU all follow), each engine's axes in our words, and where each file puts its faces."""
from __future__ import annotations

import math

import imagecodecs
import numpy as np
import pytest
import torch
from PIL import Image

from ganorama import geometry
from ganorama.engines import ENGINES, engine_preset
from ganorama.errors import UsageError
from ganorama.export.float_images import read_exr, read_png16, srgb_to_linear
from ganorama.export.skybox import save_skybox

RIGHT, LEFT = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)
DOWN, UP = (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
FORWARD, BACK = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)

# The OpenGL cube-map rule, inverted: for face F and face coordinates sc (columns, left
# to right) and tc (rows, top to bottom) in [-1, 1], the lookup direction (x, y, z).
GL_FACE_DIRECTION = {
    "+x": lambda sc, tc: (1.0, -tc, -sc),
    "-x": lambda sc, tc: (-1.0, -tc, sc),
    "+y": lambda sc, tc: (sc, 1.0, tc),
    "-y": lambda sc, tc: (sc, -1.0, -tc),
    "+z": lambda sc, tc: (sc, -tc, 1.0),
    "-z": lambda sc, tc: (-sc, -tc, -1.0),
}

# Each engine's cube lookup axes (+X, +Y, +Z) in our world (x right, y down, z forward),
# from its documents: Unity, Babylon.js and Sansar are Y up and +Z forward with +X on the
# right (left-handed, the GL cube frame itself); three.js looks image cube textures up
# with x mirrored and the camera at +Z sees the same; Godot is right-handed, Y up, -Z
# forward (Cubemap class reference), and its sky shader looks up texture(cube, EYEDIR).
ENGINE_AXES = {
    "unity": (RIGHT, UP, FORWARD),
    "babylon": (RIGHT, UP, FORWARD),
    "sansar": (RIGHT, UP, FORWARD),
    "threejs": (RIGHT, UP, FORWARD),
    "godot": (RIGHT, UP, BACK),
}

# Where each file puts which face: {file: [(face, row, column), ...]}, from the documents.
UNITY_SIX = {"front_+Z": "+z", "back_-Z": "-z", "left_+X": "+x", "right_-X": "-x", "up_+Y": "+y", "down_-Y": "-y"}
LAYOUTS = {
    "unity": {"cross": [("+y", 0, 1), ("-x", 1, 0), ("+z", 1, 1), ("+x", 1, 2), ("-z", 1, 3), ("-y", 2, 1)],
              **{name: [(face, 0, 0)] for name, face in UNITY_SIX.items()}},
    "godot": {"cubemap": [("+x", 0, 0), ("-x", 0, 1), ("+y", 1, 0), ("-y", 1, 1), ("+z", 2, 0), ("-z", 2, 1)]},
    "sansar": {"skybox_strip": [(face, 0, column) for column, face in enumerate(("+x", "-x", "+y", "-y", "+z", "-z"))]},
    "threejs": {name: [(face, 0, 0)] for name, face in zip(("px", "nx", "py", "ny", "pz", "nz"), GL_FACE_DIRECTION)},
    "babylon": {f"skybox_{name}": [(face, 0, 0)] for name, face in
                zip(("px", "nx", "py", "ny", "pz", "nz"), GL_FACE_DIRECTION)},  # fmt: skip
}
FACE = 16
# Spots inside a face where the direction is read: (sc, tc) at pixel centres near the
# centre and near each edge, so a mirrored or turned face reads wrong directions.
SPOTS = [(0.5, 0.5), (0.5, 14.5), (14.5, 0.5), (14.5, 14.5), (7.5, 3.5), (3.5, 11.5)]


def direction_panorama(height: int = 64) -> torch.Tensor:
    """(3, H, 2H) whose colour encodes the direction: (d + 1) / 2, in [0, 1]."""
    return (geometry.equirect_directions(height, 2 * height).permute(2, 0, 1) + 1) / 2


def read_rgb(path) -> torch.Tensor:
    """Any of the preset formats -> (3, H, W) sRGB-encoded values as the file holds them."""
    suffix = path.suffix.lower()
    if suffix == ".exr":
        from ganorama.export.float_images import linear_to_srgb

        return linear_to_srgb(read_exr(path)[0])
    if suffix == ".hdr":
        from ganorama.export.float_images import linear_to_srgb

        return linear_to_srgb(torch.from_numpy(imagecodecs.rgbe_decode(path.read_bytes()).copy()).permute(2, 0, 1))
    with open(path, "rb") as file:
        if file.read(26)[24:25] == b"\x10":
            return read_png16(path)
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255


def expected_direction(engine: str, face: str, column: float, row: float) -> torch.Tensor:
    sc, tc = 2 * column / FACE - 1, 2 * row / FACE - 1
    lookup = GL_FACE_DIRECTION[face](sc, tc)
    world = sum(torch.tensor(axis) * component for axis, component in zip(ENGINE_AXES[engine], lookup))
    return torch.nn.functional.normalize(world, dim=0)


@pytest.mark.parametrize("engine", sorted(LAYOUTS))
@pytest.mark.parametrize("format", ["png", "exr"])
def test_every_face_of_every_file_shows_the_directions_the_engine_looks_it_up_at(tmp_path, engine, format):
    preset = engine_preset(engine)
    if format not in preset.formats:
        format = preset.default_format
    written = save_skybox(direction_panorama(), tmp_path / engine, preset, face_size=FACE, format=format)
    assert set(LAYOUTS[engine]) <= set(written)
    tolerance = 0.05 if format in ("png", "exr", "png16") else 0.08  # JPEG's blocks
    for name, cells in LAYOUTS[engine].items():
        image = read_rgb(written[name])
        rows = 1 + max(row for _, row, _ in cells)
        columns = 1 + max(column for _, _, column in cells)
        assert image.shape[-2:] == (rows * FACE, columns * FACE), name
        for face, row, column in cells:
            for x, y in SPOTS:
                colour = image[:, int(row * FACE + y), int(column * FACE + x)]
                seen = torch.nn.functional.normalize(colour * 2 - 1, dim=0)
                wanted = expected_direction(engine, face, x, y)
                angle = math.degrees(math.acos(float(torch.dot(seen, wanted).clamp(-1, 1))))
                assert angle < math.degrees(tolerance * 2), (engine, name, face, (x, y), angle)


def test_forward_is_where_each_engine_says_its_forward_is(tmp_path):
    """The centre of the face an engine calls forward shows the panorama's centre."""
    panorama = direction_panorama()
    forward_face = {"unity": ("front_+Z", None), "babylon": ("skybox_pz", None), "threejs": ("pz", None),
                    "sansar": ("skybox_strip", 4), "godot": ("cubemap", (2, 1))}  # fmt: skip
    for engine, (name, where) in forward_face.items():
        written = save_skybox(panorama, tmp_path / engine, engine_preset(engine), face_size=FACE)
        image = read_rgb(written[name])
        row, column = (0, where) if isinstance(where, int) else (where or (0, 0))
        centre = image[:, row * FACE + FACE // 2 - 1 : row * FACE + FACE // 2 + 1,
                       column * FACE + FACE // 2 - 1 : column * FACE + FACE // 2 + 1].mean(dim=(1, 2))  # fmt: skip
        assert torch.allclose(centre * 2 - 1, torch.tensor(FORWARD), atol=0.1), engine


@pytest.mark.parametrize("engine, format", [("unreal", "hdr"), ("blender", "exr"), ("blender", "hdr"), ("godot", "exr")])
def test_equirect_presets_write_the_panorama_itself_in_linear_light(tmp_path, engine, format):
    panorama = direction_panorama(16)
    written = save_skybox(panorama, tmp_path / engine, engine_preset(engine), format=format)
    path = written["panorama"]
    assert path.suffix == "." + format
    if format == "exr":
        pixels, header = read_exr(path)
        assert torch.equal(pixels, srgb_to_linear(panorama)) and str(header["envmap"]).endswith("LATLONG")
    else:
        decoded = torch.from_numpy(imagecodecs.rgbe_decode(path.read_bytes()).copy()).permute(2, 0, 1)
        assert decoded.shape == (3, 16, 32)
        assert ((decoded - srgb_to_linear(panorama)).abs() <= 1 / 128 + 1e-6).all()


def test_each_folder_gets_a_readme_that_says_how_to_import_it(tmp_path):
    for name, preset in ENGINES.items():
        written = save_skybox(direction_panorama(16), tmp_path / name, preset)
        readme = written["README"].read_text()
        assert preset.title in readme and "How to import" in readme and preset.source in readme
        assert ".EXT" not in readme
        for piece in preset.pieces:
            assert written[piece.name].name in readme


def test_sansar_faces_are_capped_at_4096_and_a_bigger_request_is_refused_before_reading(tmp_path):
    preset = engine_preset("sansar")
    with pytest.raises(UsageError, match="over sansar's limit of 4096 pixels a face; allowed: 1 to 4096"):
        save_skybox(tmp_path / "missing.png", tmp_path / "out", preset, face_size=4097)
    with pytest.raises(UsageError, match="cannot be written for sansar; allowed: exr"):
        save_skybox(tmp_path / "missing.png", tmp_path / "out", preset, format="png")
    from ganorama.export.skybox import face_size_for

    assert face_size_for(preset, 32768, None) == 4096 and face_size_for(preset, 2000, None) == 500
    assert not (tmp_path / "out").exists()


def test_a_skybox_never_replaces_a_file_and_leaves_nothing_when_it_fails(tmp_path, monkeypatch):
    import errno

    import ganorama.export.skybox as skybox

    (tmp_path / "sky").mkdir()
    (tmp_path / "sky" / "pz.png").write_text("mine")
    with pytest.raises(UsageError, match="pz.png"):
        save_skybox(direction_panorama(16), tmp_path / "sky", engine_preset("threejs"))
    assert [p.name for p in (tmp_path / "sky").iterdir()] == ["pz.png"]
    real = skybox.save_image
    calls = []

    def failing(image, path, *args, **options):
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        calls.append(path)
        return real(image, path, *args, **options)

    monkeypatch.setattr(skybox, "save_image", failing)
    with pytest.raises(OSError):
        save_skybox(direction_panorama(16), tmp_path / "new" / "sky", engine_preset("unity"))
    assert not (tmp_path / "new").exists()
