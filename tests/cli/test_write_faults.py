"""Faults of the disk a result is written to (issue 18, family 5): a full or read-only
file system, and files too large to read, through the real CLI. A real tmpfs is mounted
for each (root only: the test is skipped, with the reason, where mounting is not allowed);
every message is ours, one line naming the file, and nothing is left behind."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from cli.test_faults import assert_one_line_error, run_cli

DISK_BYTES = 64 * 1024


def _mount_tmpfs(directory: Path, options: str) -> None:
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 KiB file system, unmounted afterwards."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, f"size={DISK_BYTES}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.fixture
def read_only_disk(tmp_path):
    """A real read-only file system: even root cannot write into it (EROFS)."""
    disk = tmp_path / "ro"
    _mount_tmpfs(disk, "size=64k,ro")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` up to ``leave`` bytes free (a tmpfs counts whole pages)."""
    import shutil

    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave))


def _contents(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


FILLED_AFTER_THE_CHECK = """
import sys
import ganorama.models.convert as convert
convert.check_disk = lambda *args, **kwargs: None  # another process fills the disk meanwhile
from ganorama.cli import console_main
console_main(sys.argv[1:])
"""


def test_convert_into_a_full_disk_is_refused_before_writing_and_leaves_no_folder(small_disk, tiny_checkpoint):
    result = run_cli("convert", str(tiny_checkpoint), "-o", str(small_disk / "converted" / "deeper"))
    assert_one_line_error(result, "the converted checkpoint needs about")
    assert _contents(small_disk) == []


def test_convert_that_meets_a_full_disk_while_writing_is_one_line_naming_the_file(small_disk, tiny_checkpoint):
    """safetensors reports the full disk in an exception of its own (a traceback before):
    the OSError it stands for, naming the file, and the folder made for it removed."""
    target = small_disk / "converted"
    result = subprocess.run([sys.executable, "-c", FILLED_AFTER_THE_CHECK, "convert", str(tiny_checkpoint),
                             "-o", str(target)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert_one_line_error(result, f"{target / 'model.safetensors'}: No space left on device", status=1)
    assert _contents(small_disk) == []


def test_convert_onto_an_existing_file_is_a_usage_error(tmp_path, tiny_checkpoint):
    existing = tmp_path / "taken"
    existing.write_text("mine")
    result = run_cli("convert", str(tiny_checkpoint), "-o", str(existing))
    assert_one_line_error(result, f"output directory {existing} is a file, not a directory")
    assert existing.read_text() == "mine"


@pytest.mark.parametrize("leave", [0, 4096, 12 * 1024])
def test_a_panorama_that_fills_the_disk_is_one_line_naming_the_file_and_leaves_nothing(small_disk, tiny_checkpoint,
                                                                                        leave):
    """Whichever file the disk runs out in (the claim, the image, the sidecar), one line
    naming it; nothing of the result stays, and no claim blocks the number afterwards."""
    outdir = small_disk / "out"
    outdir.mkdir()
    _fill(small_disk, leave)
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(outdir), "--seed", "1",
                     "--panorama_width", "128", "--quiet")  # fmt: skip
    assert_one_line_error(result, "No space left on device", status=1)
    assert str(outdir) in result.stderr
    assert _contents(outdir) == []


@pytest.mark.parametrize("command", [("panorama", "-o", "{disk}/out"), ("convert", "{checkpoint}", "-o", "{disk}/c")])
def test_a_read_only_disk_is_refused_before_any_work(read_only_disk, tiny_checkpoint, command):
    words = [word.format(disk=read_only_disk, checkpoint=tiny_checkpoint) for word in command]
    if words[0] == "panorama":
        words += ["--weights", str(tiny_checkpoint)]
    result = run_cli(*words)
    assert_one_line_error(result, "is not writable: Read-only file system")


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` (no pixel data): what a
    decompression bomb looks like to a reader, at no cost to write."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


@pytest.mark.parametrize("command,output", [("cubemap", "out"), ("view", "out.html"), ("mesh", "out.glb")])
def test_an_image_over_the_pixel_limit_is_one_line_with_its_size(tmp_path, command, output):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20000, 10000)
    result = run_cli(command, str(bomb), "-o", str(tmp_path / output), timeout=120)
    assert_one_line_error(result, "200,000,000 pixels, over the 178,956,970 pixels Pillow reads safely")


def test_a_large_panorama_under_the_limit_is_read_without_pillows_warning(tmp_path):
    """14000 x 7000 (98 MP) is over Pillow's warning threshold, and a panorama we make:
    read with no raw warning lines."""
    from PIL import Image

    large = tmp_path / "large.png"
    Image.new("RGB", (14000, 7000), (30, 60, 90)).save(large)
    result = run_cli("view", str(large), "-o", str(tmp_path / "large.html"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and result.stderr.strip() == "", result.stderr
