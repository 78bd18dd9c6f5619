"""Engine presets for skyboxes: which files each engine or client wants from a panorama.

One table, :data:`ENGINES`, read by :mod:`ganorama.export.skybox` (which writes the
files) and the ``skybox`` command (which checks flags before anything is read). Torch-free.

Every cube face follows the OpenGL cube-map rule (see :mod:`ganorama.export.cubemap`):
for a lookup direction L in the engine's cube frame, face "+x" is the one where +L.x
is largest, its columns grow along -L.z and its rows along -L.y, and so on for the
other five. What differs between engines is

- ``frame``: how the engine's cube-lookup direction L maps to our world direction
  (x right, y down, z forward), as three rows (world = frame @ L). Engines whose world
  is left-handed and Y-up with +Z forward (Unity, Babylon.js, and the OpenGL convention
  itself) look the cube up with the world direction, so ``frame`` flips y only.
  three.js mirrors x in its lookup of an image cube texture and puts our forward at +Z
  as well; Godot's frame is right-handed with -Z forward, so its sky shader's lookup
  sends our forward to -Z.
- ``pieces``: the files, each a sheet of faces ((face, row, column) in units of a
  face: one cell for a single face file) or the equirect panorama itself;
- ``formats`` (the first is the default), the largest face, and where the convention
  is written down.
"""
from __future__ import annotations

from dataclasses import dataclass

from ganorama.errors import UsageError

# Face names in an engine's cube frame, in the OpenGL order of cube-map targets.
CUBE_FACES = ("+x", "-x", "+y", "-y", "+z", "-z")

# world = frame @ L for the two frames the engines below use.
GL_FRAME = ((1, 0, 0), (0, -1, 0), (0, 0, 1))
GODOT_FRAME = ((1, 0, 0), (0, -1, 0), (0, 0, -1))

# Horizontal cross, 4 faces wide and 3 high, as cube-map tools and Unity lay it out.
CROSS_CELLS = (("+y", 0, 1), ("-x", 1, 0), ("+z", 1, 1), ("+x", 1, 2), ("-z", 1, 3), ("-y", 2, 1))
# One row of six faces in the order of CUBE_FACES.
STRIP_CELLS = tuple((face, 0, column) for column, face in enumerate(CUBE_FACES))
# Godot's default import arrangement "2x3": 2 faces across, 3 down, read row by row.
GODOT_2X3_CELLS = tuple((face, index // 2, index % 2) for index, face in enumerate(CUBE_FACES))


@dataclass(frozen=True)
class Piece:
    """One file of a preset: ``name`` (without suffix) and the faces it holds as
    (face, row, column) cells, or ``cells`` None for the equirect panorama itself."""

    name: str
    cells: tuple[tuple[str, int, int], ...] | None


@dataclass(frozen=True)
class EnginePreset:
    name: str
    title: str
    frame: tuple[tuple[int, int, int], ...]
    pieces: tuple[Piece, ...]
    formats: tuple[str, ...]  # allowed; the first is the default
    max_face: int | None  # largest face side in pixels the engine takes
    forward: str  # where the panorama's centre (our forward) ends up in the engine
    how_to_import: str
    source: str

    @property
    def default_format(self) -> str:
        return self.formats[0]

    @property
    def has_faces(self) -> bool:
        return any(piece.cells is not None for piece in self.pieces)


def _six(names: dict[str, str]) -> tuple[Piece, ...]:
    """Six single-face files, named per face, in the order of CUBE_FACES."""
    return tuple(Piece(names[face], ((face, 0, 0),)) for face in CUBE_FACES)


EQUIRECT = Piece("panorama", None)

ENGINES: dict[str, EnginePreset] = {
    preset.name: preset
    for preset in (
        # Unity manual, "Cubemaps" (texture importer, Texture Shape Cube, Mapping Auto: a 4:3
        # image is read as a horizontal cross) and "6 Sided skybox" (slots Front [+Z], Back
        # [-Z], Left [+X], Right [-X], Up [+Y], Down [-Y]); Unity's world is left-handed,
        # Y up, Z forward. Largest texture Unity imports: 16384, so 4096 a face in the cross.
        EnginePreset(
            "unity", "Unity", GL_FRAME,
            (Piece("cross", CROSS_CELLS),)
            + _six({"+x": "left_+X", "-x": "right_-X", "+y": "up_+Y", "-y": "down_-Y", "+z": "front_+Z",
                    "-z": "back_-Z"}),
            ("png", "exr", "hdr", "png16", "jpg"), 4096, "+Z (Unity's forward)",
            "Drop cross.EXT into Assets; in its import settings set Texture Shape: Cube (Mapping: Auto reads "
            "the 4:3 cross) and use it in a Skybox/Cubemap material. Or make a Skybox/6 Sided material and "
            "put each file in the slot its name says (front_+Z in Front [+Z], left_+X in Left [+X], ...).",
            "https://docs.unity3d.com/Manual/class-Cubemap.html ; "
            "https://docs.unity3d.com/Manual/shader-skybox-6sided.html",
        ),  # fmt: skip
        # Unreal Engine: a 2:1 long-lat .hdr imports as a TextureCube (the importer unwraps it
        # itself, GenerateBaseCubeMipFromLongitudeLatitude2D); use it in a Sky Light (Specified
        # Cubemap) or an HDRI Backdrop.
        EnginePreset(
            "unreal", "Unreal Engine", GL_FRAME, (EQUIRECT,), ("hdr",), None,
            "the image centre, where Unreal's long-lat unwrap puts it (turn the Sky Light's or HDRI "
            "Backdrop's rotation to aim it)",
            "Import panorama.hdr into the Content Browser: a 2:1 .hdr becomes a TextureCube. Use it as a "
            "Sky Light's Source Type Specified Cubemap, or as the cubemap of an HDRI Backdrop actor.",
            "https://dev.epicgames.com/documentation/en-us/unreal-engine/API/Developer/TextureCompressor/"
            "ITextureCompressorModule/GenerateBaseCubeMipFromLongitudeLatitude2D",
        ),  # fmt: skip
        # Godot 4 class reference, Cubemap: "The expected image order is X+, X-, Y+, Y-, Z+, Z-
        # (in Godot's coordinate system, so Y+ is up and Z- is forward)"; the importer's
        # default arrangement 2x3 (ResourceImporterLayeredTexture: 2 across, 3 down, read row
        # by row); a cubemap sky needs the sky shader there, texture(cubemap, EYEDIR).
        # PanoramaSkyMaterial takes the equirect itself.
        EnginePreset(
            "godot", "Godot 4", GODOT_FRAME, (Piece("cubemap", GODOT_2X3_CELLS), EQUIRECT),
            ("exr", "hdr", "png", "png16", "jpg"), 16384, "-Z (Godot's forward)",
            "Easiest: a WorldEnvironment with Sky > PanoramaSkyMaterial, panorama = panorama.EXT. For the cube "
            "map: select cubemap.EXT, Import As: Cubemap, Slices > Arrangement 2x3 (the default), Reimport, "
            "and use it in a sky ShaderMaterial with COLOR = texture(cubemap, EYEDIR).rgb (the Cubemap class "
            "reference shows the whole shader).",
            "https://docs.godotengine.org/en/stable/classes/class_cubemap.html",
        ),  # fmt: skip
        # Blender: the World's Environment Texture node takes equirectangular (or mirror
        # ball) images only; its equirect lookup puts the image centre at +X (Cycles'
        # direction_to_equirectangular: u = 0.5 - atan2(y, x) / 2 pi).
        EnginePreset(
            "blender", "Blender", GL_FRAME, (EQUIRECT,), ("exr", "hdr"), None,
            "+X (the image centre; Z is up)",
            "World Properties > Surface > Color: Environment Texture, open panorama.EXT (Projection: "
            "Equirectangular). A Mapping node's Z rotation turns it.",
            "https://docs.blender.org/manual/en/latest/render/shader_nodes/textures/environment.html",
        ),  # fmt: skip
        # three.js docs, CubeTextureLoader: load([px, nx, py, ny, pz, nz]) of the OpenGL
        # cube-map faces; scene.background samples image cube textures with x mirrored
        # (flipEnvMap), so +Z shows our forward and the camera's right is our right.
        EnginePreset(
            "threejs", "three.js", GL_FRAME,
            _six({"+x": "px", "-x": "nx", "+y": "py", "-y": "ny", "+z": "pz", "-z": "nz"}),
            ("png", "jpg"), 16384, "+Z",
            "new THREE.CubeTextureLoader().setPath('DIR/').load(['px.EXT', 'nx.EXT', 'py.EXT', 'ny.EXT', "
            "'pz.EXT', 'nz.EXT']) and set it as scene.background (or scene.environment).",
            "https://threejs.org/docs/#api/en/loaders/CubeTextureLoader",
        ),  # fmt: skip
        # Babylon.js docs, "Skyboxes": new CubeTexture(base, scene) appends _px, _nx, _py, _ny,
        # _pz, _nz (.jpg by default; other suffixes through the extensions option) for the
        # +x ... -z sides; Babylon's world is left-handed, Y up, +Z forward.
        EnginePreset(
            "babylon", "Babylon.js", GL_FRAME,
            _six({face: "skybox_" + ("p" if face[0] == "+" else "n") + face[1] for face in CUBE_FACES}),
            ("jpg", "png"), 16384, "+Z (Babylon's forward)",
            "new BABYLON.CubeTexture('DIR/skybox', scene) (for .png: pass extensions ['_px.png', '_py.png', "
            "'_pz.png', '_nx.png', '_ny.png', '_nz.png']) as the reflectionTexture of a skybox material with "
            "coordinatesMode = BABYLON.Texture.SKYBOX_MODE, or scene.createDefaultSkybox(texture).",
            "https://doc.babylonjs.com/features/featuresDeepDive/environment/skybox",
        ),  # fmt: skip
        # Sansar docs, "Importing a Skybox": an .exr horizontal 6:1 strip, +X, -X, +Y, -Y, +Z,
        # -Z left to right, Y+ up and Z+ forward, at most 4096 a face.
        EnginePreset(
            "sansar", "Sansar", GL_FRAME, (Piece("skybox_strip", STRIP_CELLS),), ("exr",), 4096,
            "+Z (Sansar's forward)",
            "Edit Mode > Import > Skybox, choose skybox_strip.exr, then pick it in Scene Settings > Skybox.",
            "https://docs.sansar.com/latest/creating-in-sansar/importing-things-to-sansar/importing-a-skybox",
        ),  # fmt: skip
    )
}

README_NAME = "README.txt"


def engine_preset(name: str) -> EnginePreset:
    """The preset called ``name`` (case-insensitive); UsageError naming the allowed ones."""
    key = str(name).strip().lower()
    if key not in ENGINES:
        raise UsageError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)} (or list)")
    return ENGINES[key]


def check_preset_options(preset: EnginePreset, format: str | None, face_size: int | None) -> str:
    """The format to write (``format`` or the preset's default), after checking it and
    ``face_size`` against what the preset allows (UsageError, one line)."""
    chosen = preset.default_format if format is None else format
    if chosen not in preset.formats:
        raise UsageError(f"--format {chosen} cannot be written for {preset.name}; allowed: {', '.join(preset.formats)}")
    if face_size is not None:
        if not preset.has_faces:
            raise UsageError(f"--face-size does not apply to {preset.name}: it takes the equirect panorama as it is")
        if preset.max_face is not None and face_size > preset.max_face:
            raise UsageError(f"--face-size {face_size} is over {preset.name}'s limit of {preset.max_face} pixels a "
                             f"face; allowed: 1 to {preset.max_face}")  # fmt: skip
    return chosen


def preset_summary(preset: EnginePreset) -> str:
    """One line for ``--engine list``: name, files, formats, face limit."""
    files = ", ".join(piece.name for piece in preset.pieces)
    limit = f"; faces up to {preset.max_face} px" if preset.max_face is not None and preset.has_faces else ""
    return f"{preset.name:8} {preset.title}: {files} ({'/'.join(preset.formats)}{limit})"
