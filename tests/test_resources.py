"""Memory and disk estimates: reading what there is, and refusing what will not fit."""
from __future__ import annotations

import pytest

from ganorama.errors import UsageError
from ganorama import resources


def test_format_bytes():
    assert resources.format_bytes(512) == "512 B"
    assert resources.format_bytes(1536) == "1.5 KiB"
    assert resources.format_bytes(3 * 2**30) == "3.0 GiB"
    assert resources.format_bytes(2**60) == "1024.0 PiB"


def test_meminfo_parsing(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  24683652 kB\nMemFree:  100 kB\nMemAvailable:  23663744 kB\nHugePages_Total: 0\n")
    fields = resources._meminfo(str(meminfo))
    assert fields["MemTotal"] == 24683652 * 1024
    assert fields["MemAvailable"] == 23663744 * 1024
    assert fields["HugePages_Total"] == 0
    assert resources._meminfo(str(tmp_path / "missing")) == {}


def test_this_machine_reports_plausible_memory():
    total, available = resources.memory_total(), resources.memory_available()
    assert 0 < available <= total


def test_disk_free_of_a_path_that_does_not_exist_yet(tmp_path):
    assert resources.disk_free(tmp_path / "a" / "b" / "c.gif") == resources.disk_free(tmp_path) > 0
    assert resources.nearest_existing(tmp_path / "a" / "b") == tmp_path


def test_check_memory_and_disk_say_what_is_needed_and_what_there_is(tmp_path):
    resources.check_memory(10, "a thing", available=10)  # exactly enough is enough
    with pytest.raises(UsageError, match=r"^a thing needs about 2\.0 GiB of memory; 1\.0 GiB is available$"):
        resources.check_memory(2 * 2**30, "a thing", available=2**30)
    with pytest.raises(UsageError, match=r"needs about 5\.0 MiB of disk space; 1\.0 MiB is free"):
        resources.check_disk(5 * 2**20, tmp_path / "x.gif", "a file", free=2**20)
    with pytest.raises(UsageError, match="of memory"):
        resources.check_memory(2**62, "an impossible thing")  # the real machine
