"""Skyboxes for engines: a panorama written as one engine preset's files.

The presets are data (:data:`ganorama.engines.ENGINES`); this module reads a preset and
writes its pieces: sheets of cube faces (a cross, a strip, a template, or one face a
file) sampled in the preset's frame, or the equirect itself, plus a README.txt that
says how to import them. Faces come from the float panorama and go to the writer as
float, so the float formats keep its precision.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ganorama.engines import CUBE_FACES, README_NAME, EnginePreset, Piece, check_preset_options
from ganorama.export.cubemap import FILE_BYTES_PER_PIXEL, all_or_nothing, cube_face, cubemap_memory_bytes
from ganorama.export.io import PanoramaSource, as_panorama, panorama_size, save_image
from ganorama.formats import FLOAT_FORMATS, suffix_for


def face_size_for(preset: EnginePreset, width: int, face_size: int | None) -> int:
    """The face side to write: ``face_size`` (checked), else a quarter of the panorama's
    width, at most the preset's limit."""
    if face_size is not None:
        return int(face_size)
    size = max(1, width // 4)
    return min(size, preset.max_face) if preset.max_face is not None else size


def piece_shape(piece: Piece) -> tuple[int, int]:
    """(rows, columns) of a sheet piece, in faces."""
    return 1 + max(row for _, row, _ in piece.cells), 1 + max(column for _, _, column in piece.cells)


def sheet(faces: dict[str, torch.Tensor], piece: Piece) -> torch.Tensor:
    """Faces {cube face name: (C, S, S)} -> the piece's sheet (C, rows S, columns S);
    cells that hold no face stay black."""
    rows, columns = piece_shape(piece)
    first = next(iter(faces.values()))
    channels, size, _ = first.shape
    out = first.new_zeros(channels, rows * size, columns * size)
    for face, row, column in piece.cells:
        out[:, row * size : (row + 1) * size, column * size : (column + 1) * size] = faces[face]
    return out


def preset_faces(equirect: torch.Tensor, preset: EnginePreset, size: int) -> dict[str, torch.Tensor]:
    """The six faces (C, S, S) of ``equirect`` (C, H, W) float in ``preset``'s cube frame,
    by cube face name (+x, -x, +y, -y, +z, -z)."""
    return {name: cube_face(equirect, index, size, frame=preset.frame) for index, name in enumerate(CUBE_FACES)}


def skybox_paths(preset: EnginePreset, outdir: Path, format: str) -> dict[str, Path]:
    """{piece name: path} of the files a preset writes into ``outdir``, the README last."""
    suffix = suffix_for(format)
    paths = {piece.name: outdir / f"{piece.name}{suffix}" for piece in preset.pieces}
    paths["README"] = outdir / README_NAME
    return paths


def skybox_memory_bytes(preset: EnginePreset, size: int, height: int, width: int) -> int:
    """Estimated peak memory of :func:`save_skybox`: the cube map's (float faces) plus
    the largest sheet in float32."""
    sheets = [rows * columns for rows, columns in (piece_shape(p) for p in preset.pieces if p.cells is not None)]
    return cubemap_memory_bytes(size, height, width, float_faces=True) + 12 * max(sheets, default=0) * size * size


def save_skybox(equirect: PanoramaSource, outdir: str | os.PathLike, preset: EnginePreset,
                face_size: int | None = None, format: str | None = None) -> dict[str, Path]:  # fmt: skip
    """Write ``preset``'s files for a panorama (path, PIL image or (3, H, W) tensor in
    [0, 1]) into ``outdir``: its sheets of faces and/or the equirect, in ``format`` (the
    preset's default when None), and README.txt with how to import them.

    Checked first, before the panorama is decoded (UsageError, one line): the format and
    face size against the preset, the directory and that none of the files exists, the
    memory and the disk space. All or nothing, like :func:`save_cubemap`. Returns
    {piece name or 'README': path}."""
    from ganorama.export.paths import check_output_directory
    from ganorama.resources import check_disk, check_memory

    fmt = check_preset_options(preset, format, face_size)
    outdir = Path(outdir)
    targets = skybox_paths(preset, outdir, fmt)
    check_output_directory(outdir, [path.name for path in targets.values()], f"{preset.name} skybox directory")
    height, width = panorama_size(equirect)
    size = face_size_for(preset, width, face_size)
    what = f"a {preset.title} skybox with {size}x{size} faces"
    check_memory(skybox_memory_bytes(preset, size, height, width), what)
    check_disk(_file_bytes(preset, fmt, size, height, width), outdir, what)

    source = as_panorama(equirect)
    source = source if source.is_floating_point() else source.float()
    faces = preset_faces(source, preset, size) if preset.has_faces else {}
    with all_or_nothing(outdir) as written:
        for piece in preset.pieces:
            path = targets[piece.name]
            if piece.cells is None:
                _save_equirect(source, path, fmt)
            else:
                image = sheet(faces, piece)
                save_image(image if fmt in FLOAT_FORMATS else image.clamp(0, 1), path, fmt)
            written.append(path)
        readme = readme_text(preset, fmt, size if preset.has_faces else None, (width, height))
        _write_text(targets["README"], readme)
        written.append(targets["README"])
    return targets


def _save_equirect(source: torch.Tensor, path: Path, fmt: str) -> None:
    """The panorama itself, with its 360 metadata where the format has it."""
    if fmt in FLOAT_FORMATS:
        from ganorama.export.float_images import save_float_image
        from ganorama.export.metadata import XMP_PNG_KEYWORD, xmp_packet

        text = {XMP_PNG_KEYWORD: xmp_packet(source.shape[-1], source.shape[-2])} if fmt == "png16" else None
        save_float_image(source, path, fmt, text=text, envmap="latlong")
        return
    from ganorama.export.io import tensor_to_image
    from ganorama.export.metadata import save_panorama

    save_panorama(tensor_to_image(source), path, format=fmt)


def _write_text(path: Path, text: str) -> None:
    from ganorama.files import write_with

    write_with(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


def _file_bytes(preset: EnginePreset, format: str, size: int, height: int, width: int) -> int:
    """Upper estimate of the bytes a preset's files take, with room for the README."""
    pixels = 0
    for piece in preset.pieces:
        if piece.cells is None:
            pixels += height * width
        else:
            rows, columns = piece_shape(piece)
            pixels += rows * columns * size * size
    return FILE_BYTES_PER_PIXEL[format] * pixels + 64 * 1024


def readme_text(preset: EnginePreset, format: str, face_size: int | None, panorama: tuple[int, int]) -> str:
    """The README.txt of a skybox folder: what the files are and how to import them."""
    suffix = suffix_for(format)
    lines = [f"Skybox for {preset.title}, written by ganorama from a {panorama[0]}x{panorama[1]} panorama.", ""]
    for piece in preset.pieces:
        if piece.cells is None:
            what = "the equirectangular (2:1) panorama"
        elif len(piece.cells) == 1:
            what = f"cube face {piece.cells[0][0]}"
        else:
            rows, columns = piece_shape(piece)
            what = f"{columns}x{rows} faces: " + ", ".join(f"{face} at row {r + 1} column {c + 1}" for face, r, c in piece.cells)
        lines.append(f"  {piece.name}{suffix}: {what}")
    if face_size is not None:
        lines.append(f"  faces are {face_size}x{face_size} pixels")
    linear = format in ("exr", "hdr")
    lines += ["", f"Format: {format} ({'linear light' if linear else 'sRGB'}).",
              f"The panorama's centre (its forward direction) faces {preset.forward}.", "",
              "How to import:", "  " + preset.how_to_import.replace(".EXT", suffix), "",
              f"Convention: {preset.source}", ""]  # fmt: skip
    return "\n".join(lines)
