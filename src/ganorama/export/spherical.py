"""Spherical video metadata in an MP4: the few ISO BMFF boxes that make YouTube, VLC,
ffmpeg and headsets play a video as an equirectangular 360 one.

- Spherical Video V2 (Google's spatial-media RFC): ``st3d`` (mono) and ``sv3d`` (with
  ``svhd``, and ``proj`` holding ``prhd`` and ``equi``), appended to the video track's
  sample entry (``avc1``).
- Spherical Video V1: a ``uuid`` box (:data:`V1_UUID`) holding the GSpherical XML,
  in the video track (``trak``).

:func:`add_spherical_metadata` rewrites a finished file in place: the old ``moov`` box
becomes a ``free`` box of the same size and the new, larger ``moov`` is appended at the
end, so no sample moves and the chunk offsets stay right; only the small ``moov`` is held
in memory, never the frames. :func:`read_spherical_metadata` parses the boxes back.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from ganorama.errors import GanoramaError

V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
# The boxes whose payload is a list of boxes, on the way down to the sample entry.
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_SAMPLE_ENTRY_HEADER = 78  # VisualSampleEntry's fields before its child boxes (after the box header)
_STSD_HEADER = 8  # version, flags and entry count
SOFTWARE = "Ganorama"


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def v2_boxes(software: str = SOFTWARE) -> bytes:
    """``st3d`` (monoscopic) and ``sv3d`` (equirectangular, no pose, full frame)."""
    stereo = full_box(b"st3d", b"\x00")
    header = full_box(b"svhd", software.encode("utf-8") + b"\x00")
    pose = full_box(b"prhd", struct.pack(">iii", 0, 0, 0))  # yaw, pitch, roll (16.16 degrees)
    bounds = full_box(b"equi", struct.pack(">IIII", 0, 0, 0, 0))  # top, bottom, left, right crop
    return stereo + box(b"sv3d", header + box(b"proj", pose + bounds))


def v1_xml(software: str = SOFTWARE) -> str:
    return ('<?xml version="1.0"?><rdf:SphericalVideo xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">'
            "<GSpherical:Spherical>true</GSpherical:Spherical><GSpherical:Stitched>true</GSpherical:Stitched>"
            f"<GSpherical:StitchingSoftware>{software}</GSpherical:StitchingSoftware>"
            "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType></rdf:SphericalVideo>")  # fmt: skip


def v1_box(software: str = SOFTWARE) -> bytes:
    return box(b"uuid", V1_UUID + v1_xml(software).encode("utf-8"))


def iter_boxes(data: bytes, start: int = 0, end: int | None = None):
    """(kind, offset of the box, offset of its payload, offset past it) for the boxes in
    ``data[start:end]``."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        payload = offset + 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            payload = offset + 16
        elif size == 0:
            size = end - offset
        if size < payload - offset or offset + size > end:
            raise GanoramaError(f"the MP4 has a broken {kind!r} box at byte {offset}")
        yield kind, offset, payload, offset + size
        offset += size


def _file_boxes(file) -> list[tuple[bytes, int, int]]:
    """The top-level boxes of an open file: (kind, offset, size), reading headers only."""
    file.seek(0, os.SEEK_END)
    length = file.tell()
    found, offset = [], 0
    while offset + 8 <= length:
        file.seek(offset)
        size, kind = struct.unpack(">I4s", file.read(8))
        if size == 1:
            size = struct.unpack(">Q", file.read(8))[0]
        elif size == 0:
            size = length - offset
        if size < 8 or offset + size > length:
            raise GanoramaError(f"the MP4 has a broken {kind!r} box at byte {offset}")
        found.append((kind, offset, size))
        offset += size
    return found


def _rebuilt(data: bytes, start: int, end: int, path: tuple[bytes, ...], v2: bytes, v1: bytes) -> tuple[bytes, bool]:
    """The boxes of ``data[start:end]`` (inside ``path``) with the metadata added to the
    video track; and whether a video track was found."""
    pieces, found = [], False
    for kind, offset, payload, after in iter_boxes(data, start, end):
        inner = path + (kind,)
        if kind == b"trak" and not _is_video_track(data, payload, after):
            pieces.append(data[offset:after])
        elif kind in _CONTAINERS:
            body, inside = _rebuilt(data, payload, after, inner, v2, v1)
            if kind == b"trak" and inside:
                body += v1
            pieces.append(box(kind, body))
            found |= inside
        elif kind == b"stsd" and b"trak" in path:
            entries = data[payload : payload + _STSD_HEADER]
            for _, entry, entry_payload, entry_after in iter_boxes(data, payload + _STSD_HEADER, after):
                kind_of_entry = data[entry + 4 : entry + 8]
                kept = _without(data, entry_payload + _SAMPLE_ENTRY_HEADER, entry_after, {b"st3d", b"sv3d"})
                entries += box(kind_of_entry, data[entry_payload : entry_payload + _SAMPLE_ENTRY_HEADER] + kept + v2)
            pieces.append(box(kind, entries))
            found = True
        elif kind == b"uuid" and data[payload : payload + 16] == V1_UUID:
            continue  # replaced by ours
        else:
            pieces.append(data[offset:after])
    return b"".join(pieces), found


def _without(data: bytes, start: int, end: int, kinds: set[bytes]) -> bytes:
    return b"".join(data[offset:after] for kind, offset, _, after in iter_boxes(data, start, end) if kind not in kinds)


def video_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the first video track of an MP4 held in ``data``, from its track
    header (``tkhd``: 16.16 fixed-point width and height at its end); None without one.
    Raises GanoramaError for broken boxes."""
    for kind, _, payload, after in iter_boxes(data):
        if kind != b"moov":
            continue
        for track, _, track_payload, track_after in iter_boxes(data, payload, after):
            if track != b"trak" or not _is_video_track(data, track_payload, track_after):
                continue
            for inner, _, inner_payload, inner_after in iter_boxes(data, track_payload, track_after):
                if inner == b"tkhd" and inner_after - inner_payload >= 8:
                    width, height = struct.unpack(">II", data[inner_after - 8 : inner_after])
                    return width >> 16, height >> 16
    return None


def _is_video_track(data: bytes, start: int, end: int) -> bool:
    """Whether the ``trak`` payload ``data[start:end]`` has a ``vide`` handler."""
    for kind, _, payload, after in iter_boxes(data, start, end):
        if kind == b"mdia":
            for inner, _, inner_payload, _ in iter_boxes(data, payload, after):
                if inner == b"hdlr":
                    return data[inner_payload + 8 : inner_payload + 12] == b"vide"
    return False


def add_spherical_metadata(path: str | os.PathLike, v2: bool = True, v1: bool = True) -> None:
    """Mark the MP4 at ``path`` (being written: not yet under its final name) as an
    equirectangular monoscopic 360 video, in place."""
    with open(path, "r+b") as file:
        boxes = _file_boxes(file)
        moov = [(offset, size) for kind, offset, size in boxes if kind == b"moov"]
        if len(moov) != 1:
            raise GanoramaError(f"the MP4 {Path(path).name} has {len(moov)} moov boxes; expected one")
        offset, size = moov[0]
        file.seek(offset)
        data = file.read(size)
        body, found = _rebuilt(data, 8, len(data), (b"moov",), v2_boxes() if v2 else b"", v1_box() if v1 else b"")
        if not found:
            raise GanoramaError(f"the MP4 {Path(path).name} has no video track to mark as 360")
        new_moov = box(b"moov", body)
        if offset + size == file.seek(0, os.SEEK_END):
            file.seek(offset)  # moov is last (ffmpeg's default): replace it where it is
            file.truncate()
        else:
            file.seek(offset + 4)
            file.write(b"free")  # the old moov's bytes become padding; samples stay put
            file.seek(0, os.SEEK_END)
        file.write(new_moov)


def read_spherical_metadata(path: str | os.PathLike) -> dict:
    """What the video track of the MP4 at ``path`` says: ``{"v2": {"stereo_mode",
    "projection", "pose", "bounds", "software"} or None, "v1_xml": str or None}``."""
    with open(path, "rb") as file:
        boxes = _file_boxes(file)
        moov = next(((offset, size) for kind, offset, size in boxes if kind == b"moov"), None)
        if moov is None:
            raise GanoramaError(f"{path} has no moov box; it is not a finished MP4")
        file.seek(moov[0])
        data = file.read(moov[1])
    found = {"v2": None, "v1_xml": None}
    _read(data, 8, len(data), found)
    return found


def _read(data: bytes, start: int, end: int, found: dict) -> None:
    for kind, _, payload, after in iter_boxes(data, start, end):
        if kind == b"trak" and not _is_video_track(data, payload, after):
            continue  # other sample entries (audio) are laid out differently
        if kind in _CONTAINERS:
            _read(data, payload, after, found)
        elif kind == b"uuid" and data[payload : payload + 16] == V1_UUID:
            found["v1_xml"] = data[payload + 16 : after].decode("utf-8")
        elif kind == b"stsd":
            for _, _, entry_payload, entry_after in iter_boxes(data, payload + _STSD_HEADER, after):
                v2 = _read_v2(data, entry_payload + _SAMPLE_ENTRY_HEADER, entry_after)
                found["v2"] = v2 or found["v2"]


def _read_v2(data: bytes, start: int, end: int) -> dict | None:
    values: dict = {}
    for kind, _, payload, after in iter_boxes(data, start, end):
        if kind == b"st3d":
            values["stereo_mode"] = data[payload + 4]
        elif kind == b"sv3d":
            for inner, _, inner_payload, inner_after in iter_boxes(data, payload, after):
                if inner == b"svhd":
                    values["software"] = data[inner_payload + 4 : inner_after].rstrip(b"\x00").decode("utf-8")
                elif inner == b"proj":
                    _read_projection(data, inner_payload, inner_after, values)
    return values or None


def _read_projection(data: bytes, start: int, end: int, values: dict) -> None:
    for kind, _, payload, _ in iter_boxes(data, start, end):
        if kind == b"prhd":
            values["pose"] = struct.unpack(">iii", data[payload + 4 : payload + 16])
        elif kind == b"equi":
            values["projection"] = "equirectangular"
            values["bounds"] = struct.unpack(">IIII", data[payload + 4 : payload + 20])
