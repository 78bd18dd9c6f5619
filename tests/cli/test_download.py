"""``ganorama download`` and ``ganorama convert``: output, exit status, one-line errors."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganorama.cli import main
from ganorama.models.config import CONFIG_NAME, SAFETENSORS_NAME, WEIGHTS_NAME

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def _offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1")
    return env


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganorama", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _fake_hub_snapshot(hub_cache: Path, repo_id: str, checkpoint: Path) -> Path:
    """huggingface_hub's cache layout: refs/main -> snapshots/<commit>/<file> -> ../../blobs/<hash>."""
    repo_dir = hub_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo_dir / "blobs").mkdir()
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(COMMIT)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        data = (checkpoint / name).read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def test_download_offline_with_empty_cache_exits_1_with_one_line_hint_and_no_traceback(tmp_path):
    result = _run_cli("download", "biggan-deep-128", env=_offline_env(tmp_path / "hf"))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("ganorama download: error: cannot download biggan-deep-128")
    assert "--weights" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0]


def _closed_loopback_port() -> int:
    with socket.socket() as probe:  # bound, never listening, then closed: connections are refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("endpoint", ["https://hub.invalid", "closed loopback port"])
def test_download_without_a_route_to_the_hub_fails_at_once_with_one_line(tmp_path, endpoint):
    if endpoint == "closed loopback port":
        endpoint = f"http://127.0.0.1:{_closed_loopback_port()}"
    proxies = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    env = {k: v for k, v in _offline_env(tmp_path / "hf").items() if k not in ("HF_HUB_OFFLINE", *proxies)}
    env["HF_ENDPOINT"] = endpoint  # .invalid never resolves (RFC 6761); the closed port refuses at once
    started = time.monotonic()
    result = _run_cli("download", "biggan-deep-128", env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "the Hugging Face Hub is unreachable" in lines[0] and "--weights" in lines[0]
    # huggingface_hub's own retries wait 1 + 2 + 4 + 8 + 8 = 23 s; this includes Python's start-up.
    assert elapsed < 15, f"took {elapsed:.1f} s"


def test_download_unknown_model_exits_2_with_one_line(tmp_path):
    result = _run_cli("download", "biggan-deep-1024", env=_offline_env(tmp_path / "hf"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'biggan-deep-1024'" in lines[0] and "hf:OWNER/REPO" in lines[0]


def test_download_prints_the_directory_of_a_cached_hub_model(tmp_path, monkeypatch, capsys, tiny_checkpoint):
    home = tmp_path / "hf"
    snapshot = _fake_hub_snapshot(home / "hub", "osanseviero/BigGAN-deep-128", tiny_checkpoint)
    from ganorama.models import weights

    monkeypatch.setattr(weights, "PUBLISHED_SHA256", {})  # the fixture stands in for the published file
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert main(["download", "biggan-deep-128"]) == 0
    assert capsys.readouterr().out.strip() == str(snapshot)


def test_download_help_explains_the_cache_and_environment_variables(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["download", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for expected in ("HF_HOME", "HF_HUB_OFFLINE", "~/.cache/huggingface/hub", "ganorama/MODEL", "hf:OWNER/REPO"):
        assert expected in text


def test_convert_command_writes_safetensors_then_refuses_to_overwrite(tmp_path, capsys, tiny_checkpoint):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        shutil.copyfile(tiny_checkpoint / name, directory / name)
    assert main(["convert", str(directory)]) == 0
    assert capsys.readouterr().out.strip() == str(directory / SAFETENSORS_NAME)
    assert (directory / SAFETENSORS_NAME).is_file()

    assert main(["convert", str(directory)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "already exists" in error[0]


def test_convert_command_with_output_dir_copies_config(tmp_path, capsys, tiny_checkpoint):
    assert main(["convert", str(tiny_checkpoint), "-o", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [CONFIG_NAME, SAFETENSORS_NAME]
    assert not (tiny_checkpoint / SAFETENSORS_NAME).exists()


# --- download NAME --from DIR --------------------------------------------------------------


def test_download_from_refuses_a_checkpoint_of_another_architecture_in_one_line(tmp_path, small_checkpoint):
    result = _run_cli("download", "biggan-deep-128", "--from", str(small_checkpoint), env=_offline_env(tmp_path / "hf"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "holds a custom architecture, not biggan-deep-128" in lines[0] and "--weights" in lines[0]
    assert not (tmp_path / "hf" / "ganorama" / "biggan-deep-128").exists()


def test_download_from_refuses_a_name_that_is_not_a_published_model(tmp_path, small_checkpoint):
    result = _run_cli("download", "hf:someone/model", "--from", str(small_checkpoint), env=_offline_env(tmp_path))
    assert result.returncode == 2 and "imports a published model" in result.stderr, result.stderr


def test_an_imported_copy_is_found_offline_by_its_name_and_checked(tmp_path, monkeypatch, tiny_checkpoint):
    """The copying and finding, with the architecture check told that the fixture is the
    128 model (the whole flow on a full-size fixture is the slow test below)."""
    from ganorama.models import importing
    from ganorama.models.weights import download

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(importing, "identify_model", lambda config: "biggan-deep-128")
    cached = importing.import_checkpoint("biggan-deep-128", tiny_checkpoint)
    assert cached == tmp_path / "hf" / "ganorama" / "biggan-deep-128"
    assert (cached / WEIGHTS_NAME).read_bytes() == (tiny_checkpoint / WEIGHTS_NAME).read_bytes()
    assert (cached / f"{WEIGHTS_NAME}.sha256").is_file() and not list(cached.glob(".*"))
    assert download("biggan-deep-128", offline=True) == cached
    assert importing.import_checkpoint("biggan-deep-128", tiny_checkpoint) == cached  # the same again: only checked

    other = tmp_path / "other"
    shutil.copytree(tiny_checkpoint, other)
    with open(other / WEIGHTS_NAME, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(Exception, match="already holds other weights"):
        importing.import_checkpoint("biggan-deep-128", other)
    with open(cached / WEIGHTS_NAME, "ab") as handle:  # the cached copy changed behind our back
        handle.write(b"\0")
    with pytest.raises(Exception, match="corrupted"):
        download("biggan-deep-128", offline=True)


@pytest.mark.slow
def test_download_from_imports_offline_then_m_works_with_no_weights(tmp_path, full_size_128_checkpoint):
    env = _offline_env(tmp_path / "hf")
    imported = _run_cli("download", "biggan-deep-128", "--from", str(full_size_128_checkpoint), env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(tmp_path / "hf" / "ganorama" / "biggan-deep-128")
    made = _run_cli("panorama", "-m", "biggan-deep-128", "--layout", "cube", "--panorama_width", "256", "-o",
                    str(tmp_path / "p.png"), env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "p.png").is_file()
