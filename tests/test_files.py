"""Files are never lost: atomic writes, index claims, stale temporaries, permissions."""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from ganorama.errors import UsageError
from ganorama.files import atomic_path, claim_index, next_free_index, remove_stale_temporaries, temporary_name


def test_a_failed_write_leaves_no_file_under_its_final_name(tmp_path):
    target = tmp_path / "image.png"
    with pytest.raises(OSError):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_never_replaced(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists"):
        with atomic_path(target) as temp:
            temp.write_bytes(b"theirs")
    assert target.read_bytes() == b"mine" and len(list(tmp_path.iterdir())) == 1


def test_claims_give_different_numbers_and_are_released(tmp_path):
    with claim_index(tmp_path) as first, claim_index(tmp_path) as second:
        assert (first.stem, second.stem) == ("0", "1")
        assert sorted(path.name for path in tmp_path.iterdir()) == [".0.claim", ".1.claim"]
    assert list(tmp_path.iterdir()) == [] and next_free_index(tmp_path) == 0


def test_a_number_finished_meanwhile_is_not_claimed_again(tmp_path):
    (tmp_path / "0.jpg").write_bytes(b"done by another run")
    with claim_index(tmp_path) as claim:
        assert claim.stem == "1"


def test_temporaries_and_claims_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".3.png.ganorama-{dead_pid}-1-0badc0de.part.png"
    stale_claim = tmp_path / ".3.claim"
    live = temporary_name(tmp_path / "4.png")  # this process's own, in progress
    for path in (stale, live):
        path.write_bytes(b"x")
    stale_claim.write_text(f"{dead_pid}-1")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([stale, stale_claim]) and live.exists()


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)  # fmt: skip


def _dead_claim(directory, stem: str, names: list[str]) -> None:
    (directory / f".{stem}.claim").write_text("\n".join([f"{_dead_pid()}-1", *names]) + "\n")


def test_a_killed_runs_result_without_its_sidecar_is_removed_whole(tmp_path):
    (tmp_path / "beach.png").write_bytes(b"image")
    (tmp_path / "beach_cubemap").mkdir()
    (tmp_path / "beach_cubemap" / "px.png").write_bytes(b"face")
    _dead_claim(tmp_path, "beach", ["beach.png", "beach_views.png", "beach_cubemap", "beach.json"])
    remove_stale_temporaries(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_runs_whole_result_is_kept_and_only_its_claim_removed(tmp_path):
    for name in ("7.png", "7.json"):
        (tmp_path / name).write_text("done")
    _dead_claim(tmp_path, "7", ["7.png", "7.json"])
    remove_stale_temporaries(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["7.json", "7.png"]


def test_a_dead_claim_never_removes_files_of_another_stem_or_outside_its_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    keep = [tmp_path / "precious.txt", folder / "other.png", folder / "2.png"]
    for path in keep:
        path.write_text("not the claim's")
    _dead_claim(folder, "1", ["../precious.txt", "other.png", "2.png", "1.json"])
    remove_stale_temporaries(folder)
    assert all(path.exists() for path in keep)


def test_a_live_claim_keeps_its_unfinished_files(tmp_path):
    with claim_index(tmp_path) as claim:
        claim.record(["0.png", "0.json"])
        (tmp_path / "0.png").write_bytes(b"being written")
        remove_stale_temporaries(tmp_path)
        assert (tmp_path / "0.png").exists()


def test_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "a.json") as temp:
            temp.write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640


def _prepare_many_times(directory: str) -> int:
    from ganorama.files import prepare_directory

    failures = 0
    for _ in range(150):
        try:
            prepare_directory(directory)
        except UsageError:
            failures += 1
    return failures


def test_runs_started_together_into_one_folder_never_remove_each_others_write_probe(tmp_path):
    """Each run checks that its output folder is writable with a probe file; a probe shared
    by all made one of ten concurrent runs fail now and then ("not writable")."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        failures = pool.map(_prepare_many_times, [str(tmp_path)] * 4, chunksize=1)
    assert failures == [0, 0, 0, 0] and list(tmp_path.iterdir()) == []
