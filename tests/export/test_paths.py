"""Output locations checked before any work: one-line refusals, nothing created."""
from __future__ import annotations

import os
import re

import pytest

from ganorama.errors import UsageError
from ganorama.export.paths import check_output_directory, check_output_file
from ganorama.files import write_bytes_atomic


def test_a_new_file_in_a_new_directory_is_fine_and_nothing_is_created(tmp_path):
    path = tmp_path / "a" / "b" / "spin.gif"
    assert check_output_file(path, (".gif", ".mp4")) == path
    assert list(tmp_path.iterdir()) == []  # the write test left nothing behind


def made(path, kind: str = "file"):
    """Create ``path`` (a file, or a directory) and return it."""
    path.mkdir() if kind == "directory" else path.write_text("x")
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: "/proc/nope.gif", "cannot create files in /proc"),
        (lambda tmp: "/dev/null/x.gif", "/dev/null is not a directory"),
        (lambda tmp: made(tmp / "file") / "x.gif", "is not a directory"),
        (lambda tmp: made(tmp / "old.gif"), "already exists"),
        (lambda tmp: made(tmp / "dir.gif", "directory"), "already exists"),
        (lambda tmp: tmp / ("n" * 252 + ".gif"), "256 bytes long"),
        (lambda tmp: tmp / ("d" * 256) / "x.gif", "256 bytes long"),
        (lambda tmp: tmp / "x.png", "must end in .gif or .mp4"),
    ],
    ids=["proc", "dev-null", "file-as-directory", "existing", "existing-directory", "long-name", "long-directory",
         "suffix"],
)
def test_bad_output_files_are_refused_in_one_line(tmp_path, make, message):
    target = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(UsageError, match=message) as caught:
        check_output_file(target, (".gif", ".mp4"), "turntable output")
    assert "\n" not in str(caught.value)
    assert sorted(os.listdir(tmp_path)) == before


def test_a_name_at_the_limit_can_really_be_written_and_one_byte_more_is_refused(tmp_path):
    """The limit leaves room for the temporary name ganorama.outputs really writes under."""
    with pytest.raises(UsageError, match="are allowed") as caught:
        check_output_file(tmp_path / ("n" * 251 + ".gif"), (".gif",))
    limit = int(re.search(r"at most (\d+) are allowed", str(caught.value)).group(1))
    at_limit = tmp_path / ("n" * (limit - len(".gif")) + ".gif")
    check_output_file(at_limit, (".gif",))
    write_bytes_atomic(at_limit, b"GIF89a")
    assert at_limit.read_bytes() == b"GIF89a"
    with pytest.raises(UsageError, match=f"at most {limit} are allowed"):
        check_output_file(tmp_path / ("n" * (limit - len(".gif") + 1) + ".gif"), (".gif",))


def test_output_directories(tmp_path):
    names = ["px.png", "cross.png"]
    assert check_output_directory(tmp_path / "new" / "cube", names) == tmp_path / "new" / "cube"
    (tmp_path / "cube").mkdir()
    check_output_directory(tmp_path / "cube", names)  # an existing empty directory is fine
    (tmp_path / "cube" / "cross.png").write_text("keep")
    with pytest.raises(UsageError, match="cross.png already exists"):
        check_output_directory(tmp_path / "cube", names)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        check_output_directory(tmp_path / "plain", names)
    with pytest.raises(UsageError, match="cannot create files in /proc"):
        check_output_directory("/proc/cube", names)
    assert sorted(os.listdir(tmp_path)) == ["cube", "plain"]
