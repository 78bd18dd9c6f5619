"""Weight resolution, caching, resumable downloads and safetensors conversion, all offline.

The Hub cache is faked with the exact layout huggingface_hub uses; URL downloads are
served by a local http.server on 127.0.0.1; every other network access fails the test.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub.constants  # noqa: F401  read before any test sets HF_HUB_OFFLINE, as in a long-lived process
import pytest
import torch

from ganorama import BigGAN, GanoramaError, UsageError
from ganorama.models import weights
from ganorama.models.checkpoint import read_checkpoint
from ganorama.models.config import CONFIG_NAME, DEFAULT_MODEL, PUBLISHED_MODELS, SAFETENSORS_NAME, WEIGHTS_NAME
from ganorama.models.convert import convert_to_safetensors
from ganorama.models.weights import (
    UrlSource,
    download_from_urls,
    fetch_url,
    resolve_checkpoint_dir,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# --- fixtures ------------------------------------------------------------------------


def fake_hub_snapshot(hub_cache: Path, repo_id: str, checkpoint: Path, commit: str = COMMIT,
                      files: tuple[str, ...] = (CONFIG_NAME, WEIGHTS_NAME)) -> Path:
    """Lay ``checkpoint``'s files out as huggingface_hub caches them: refs/main, blobs,
    and snapshots/<commit>/<file> symlinks into blobs. Returns the snapshot directory."""
    repo_dir = hub_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo_dir / "blobs").mkdir()
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for name in files:
        data = (checkpoint / name).read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


@pytest.fixture
def forbid_network(monkeypatch):
    """Any name lookup other than loopback is recorded, refused, and fails the test."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in LOOPBACK:
            attempts.append(str(host))
            raise OSError(f"test forbids network access to {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture
def offline_home(tmp_path, monkeypatch, forbid_network):
    """An empty HF_HOME, with HF_HUB_OFFLINE=1 set after huggingface_hub may have been imported."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def file_server(monkeypatch):
    """A loopback HTTP server for ``state.files`` (path -> bytes) honouring ``Range: bytes=N-``.

    ``state.honour_range = False`` makes it answer every request with the whole file;
    ``state.truncate_to = N`` makes it announce the full length but send only N bytes.
    ``state.requests`` records (path, Range header) per request.
    """
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    state = SimpleNamespace(files={}, requests=[], honour_range=True, truncate_to=None)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            requested_range = self.headers.get("Range")
            state.requests.append((self.path, requested_range))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if requested_range and state.honour_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", requested_range).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if state.truncate_to is None else body[: state.truncate_to])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def tiny_expected(tiny_checkpoint):
    """The tiny fixture loaded straight from its directory: its weights, and its output for fixed inputs."""
    model = BigGAN.from_pretrained(tiny_checkpoint)
    return SimpleNamespace(state_dict=model.state_dict(), sample=_sample(model))


def _payload(size: int, seed: int = 0) -> bytes:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (size,), generator=generator, dtype=torch.uint8).numpy().tobytes()


def _copy_checkpoint(source: Path, destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        shutil.copyfile(source / name, destination / name)
    return destination


def _sample(model: BigGAN) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(1, model.config.z_dim, generator=generator).clamp(-2, 2) * 0.5
    classes = torch.softmax(torch.randn(1, model.config.num_classes, generator=generator), dim=1)
    with torch.no_grad():
        return model(z, classes, 0.5)


def _assert_same_model(model: BigGAN, expected: SimpleNamespace) -> None:
    """``model`` holds exactly the expected weights, and so computes the expected image.

    The weights are compared bit for bit. The images are compared to 1e-5: the same weights
    read from another file (or just allocated elsewhere) sit in differently aligned memory,
    and float kernels take other vectorised paths for it, so the last bits may differ.
    """
    actual = model.state_dict()
    assert actual.keys() == expected.state_dict.keys()
    differing = [key for key, tensor in actual.items() if not torch.equal(tensor, expected.state_dict[key])]
    assert differing == [], f"weights differ: {differing[:3]}"
    torch.testing.assert_close(_sample(model), expected.sample, rtol=0, atol=1e-5)


def _assert_one_line(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message


# --- local paths -----------------------------------------------------------------------


def test_local_checkpoint_directory_resolves_to_itself(tiny_checkpoint):
    assert resolve_checkpoint_dir(str(tiny_checkpoint)) == tiny_checkpoint


def test_local_weights_file_resolves_to_its_directory_and_loads(tiny_checkpoint, tiny_expected):
    assert resolve_checkpoint_dir(str(tiny_checkpoint / WEIGHTS_NAME)) == tiny_checkpoint
    model = BigGAN.from_pretrained(tiny_checkpoint / WEIGHTS_NAME)
    _assert_same_model(model, tiny_expected)


def test_weights_file_without_config_beside_it_is_a_usage_error(tmp_path, tiny_checkpoint):
    shutil.copyfile(tiny_checkpoint / WEIGHTS_NAME, tmp_path / WEIGHTS_NAME)
    with pytest.raises(UsageError, match="holds no config.json"):
        resolve_checkpoint_dir(str(tmp_path / WEIGHTS_NAME))


def test_weights_file_with_another_name_is_a_usage_error(tmp_path, tiny_checkpoint):
    _copy_checkpoint(tiny_checkpoint, tmp_path / "ckpt")
    renamed = tmp_path / "ckpt" / "weights.pt"
    shutil.copyfile(tiny_checkpoint / WEIGHTS_NAME, renamed)
    with pytest.raises(UsageError, match="must be named pytorch_model.bin or model.safetensors"):
        resolve_checkpoint_dir(str(renamed))


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_weights_value_is_a_usage_error_even_where_the_current_directory_is_a_checkpoint(
        value, tiny_checkpoint, monkeypatch):
    monkeypatch.chdir(tiny_checkpoint)  # Path("") is ".": it must not quietly load this
    with pytest.raises(UsageError) as caught:
        resolve_checkpoint_dir(value)
    message = str(caught.value)
    _assert_one_line(message)
    assert message.startswith("--weights is empty;") and "biggan-deep-128" in message and "hf:OWNER/REPO" in message


@pytest.mark.parametrize("value", ["biggan-deep-1024", "no/such/dir", "hf:not a repo"])
def test_unknown_model_or_missing_path_is_a_usage_error_naming_value_and_allowed_forms(value, forbid_network):
    with pytest.raises(UsageError) as caught:
        resolve_checkpoint_dir(value)
    message = str(caught.value)
    _assert_one_line(message)
    assert repr(value) in message
    assert "biggan-deep-128" in message and "hf:OWNER/REPO" in message


def test_known_models_are_the_published_ones_from_their_known_places():
    base = "https://s3.amazonaws.com/models.huggingface.co/biggan/"
    assert dict(weights.KNOWN_MODELS) == {
        "biggan-deep-128": weights.HubSource("osanseviero/BigGAN-deep-128", weights_names=(WEIGHTS_NAME,)),
        "biggan-deep-256": UrlSource("biggan-deep-256", base + "biggan-deep-256-config.json",
                                     base + "biggan-deep-256-pytorch_model.bin"),
        "biggan-deep-512": UrlSource("biggan-deep-512", base + "biggan-deep-512-config.json",
                                     base + "biggan-deep-512-pytorch_model.bin"),
    }
    assert tuple(weights.KNOWN_MODELS) == PUBLISHED_MODELS and DEFAULT_MODEL in PUBLISHED_MODELS
    assert weights.ALLOWED_FORMS.startswith("biggan-deep-128, biggan-deep-256, biggan-deep-512, hf:OWNER/REPO")
    with pytest.raises(UsageError, match=r"^unknown model 'x'; allowed: biggan-deep-128, biggan-deep-256, "
                                         r"biggan-deep-512 or hf:OWNER/REPO\[@REVISION\]$"):
        weights.parse_model_spec("x")


def test_config_and_weights_modules_import_without_torch():
    code = ("import sys, ganorama.models.config, ganorama.models.weights, ganorama.cli.flags; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


# --- the Hub cache -----------------------------------------------------------------------


@pytest.fixture
def unpinned(monkeypatch):
    """The hub fixtures stand a random-weight test checkpoint in for biggan-deep-128, whose
    published sha256 it cannot have: its pin is lifted (see the pin's own test)."""
    monkeypatch.setattr(weights, "PUBLISHED_SHA256", {})


def test_a_hub_file_with_another_sha256_than_the_published_one_is_refused(offline_home, tiny_checkpoint):
    fake_hub_snapshot(offline_home / "hub", "osanseviero/BigGAN-deep-128", tiny_checkpoint)
    with pytest.raises(GanoramaError, match=r"not the b86146a8cfcde4cd\.\.\. the Hub publishes") as caught:
        resolve_checkpoint_dir("biggan-deep-128")
    _assert_one_line(str(caught.value))


def test_a_hub_file_with_the_published_sha256_is_taken_by_its_blob_name(tmp_path, monkeypatch):
    blob = tmp_path / "blobs" / weights.PUBLISHED_SHA256[("osanseviero/BigGAN-deep-128", WEIGHTS_NAME)]
    blob.parent.mkdir()
    blob.write_bytes(b"not read: the cache names blobs by their sha256")
    (tmp_path / WEIGHTS_NAME).symlink_to(blob)
    weights.check_published_sha256("osanseviero/BigGAN-deep-128", WEIGHTS_NAME, tmp_path / WEIGHTS_NAME, "x")
    weights.check_published_sha256("someone/other", WEIGHTS_NAME, tmp_path / WEIGHTS_NAME, "x")  # nothing published


def test_known_hub_model_resolves_from_offline_hub_cache(offline_home, tiny_checkpoint, unpinned):
    snapshot = fake_hub_snapshot(offline_home / "hub", "osanseviero/BigGAN-deep-128", tiny_checkpoint)
    assert resolve_checkpoint_dir("biggan-deep-128") == snapshot


def test_from_pretrained_loads_known_hub_model_from_offline_hub_cache(offline_home, tiny_checkpoint, tiny_expected,
                                                                     unpinned):  # fmt: skip
    fake_hub_snapshot(offline_home / "hub", "osanseviero/BigGAN-deep-128", tiny_checkpoint)
    model = BigGAN.from_pretrained("biggan-deep-128")
    assert model.config.output_dim == 32
    _assert_same_model(model, tiny_expected)


def test_hf_spec_resolves_from_offline_hub_cache_by_branch_and_by_commit(offline_home, tiny_checkpoint, tiny_expected):
    snapshot = fake_hub_snapshot(offline_home / "hub", "someone/biggan-copy", tiny_checkpoint)
    assert resolve_checkpoint_dir("hf:someone/biggan-copy") == snapshot
    assert resolve_checkpoint_dir(f"hf:someone/biggan-copy@{COMMIT}") == snapshot
    model = BigGAN.from_pretrained("hf:someone/biggan-copy")
    _assert_same_model(model, tiny_expected)


def test_hf_spec_uses_cached_safetensors_when_the_repo_has_no_bin(offline_home, tiny_checkpoint, tmp_path):
    converted = _copy_checkpoint(tiny_checkpoint, tmp_path / "converted")
    convert_to_safetensors(converted)
    snapshot = fake_hub_snapshot(offline_home / "hub", "someone/st", converted, files=(CONFIG_NAME, SAFETENSORS_NAME))
    assert resolve_checkpoint_dir("hf:someone/st") == snapshot


def test_hub_model_missing_from_offline_cache_is_one_line_error_with_weights_hint(offline_home):
    with pytest.raises(GanoramaError) as caught:
        resolve_checkpoint_dir("biggan-deep-128")
    message = str(caught.value)
    _assert_one_line(message)
    assert not isinstance(caught.value, UsageError)
    assert "HF_HUB_OFFLINE=1" in message and "--weights" in message
    assert str(offline_home / "hub" / "models--osanseviero--BigGAN-deep-128") in message


# --- the Hub, online but unreachable -----------------------------------------------------


@pytest.fixture
def online_home(tmp_path, monkeypatch):
    """An empty HF_HOME, online mode, no proxies: what a laptop without network looks like."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT",
                     "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def hub_download_forbidden(monkeypatch):
    """huggingface_hub's downloader fails the test if called (it would retry for ~25 s offline)."""
    import huggingface_hub

    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("hf_hub_download must not be called when the hub cannot be reached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", forbidden)
    yield
    assert calls == [], "hf_hub_download was called"


def _closed_loopback_port() -> int:
    with socket.socket() as probe:  # bound, never listening, then closed: connections are refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unresolvable_hub_fails_at_once_with_one_line_and_no_download_attempt(online_home, monkeypatch,
                                                                               hub_download_forbidden):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    lookups = []

    def no_such_host(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    started = time.monotonic()
    with pytest.raises(GanoramaError) as caught:
        weights.download("biggan-deep-128")
    assert time.monotonic() - started < 2
    message = str(caught.value)
    _assert_one_line(message)
    assert not isinstance(caught.value, UsageError)  # the environment failed, not the user
    assert "unreachable: cannot resolve hub.invalid" in message and "--weights" in message
    assert lookups == ["hub.invalid"]


def test_unreachable_hub_still_serves_a_cached_model(online_home, tiny_checkpoint, monkeypatch,
                                                     hub_download_forbidden, unpinned):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_loopback_port()}")
    snapshot = fake_hub_snapshot(online_home / "hub", "osanseviero/BigGAN-deep-128", tiny_checkpoint)
    assert weights.download("biggan-deep-128") == snapshot


def test_reachability_check_connects_to_a_listening_port_and_names_a_closed_one():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert weights.unreachable_reason(f"http://127.0.0.1:{server.getsockname()[1]}/x", timeout=2) is None
    port = _closed_loopback_port()
    assert weights.unreachable_reason(f"http://127.0.0.1:{port}", timeout=2) == (
        f"cannot connect to 127.0.0.1:{port} (Connection refused)")


def test_reachability_check_goes_to_the_proxy_the_environment_sets(monkeypatch):
    for variable in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def recorded(host, *args, **kwargs):
        lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recorded)
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        assert weights.unreachable_reason("https://hub.invalid", timeout=2) is None
    assert lookups == ["127.0.0.1"]  # the hub's own name is the proxy's business


def test_hub_downloads_run_with_huggingface_hub_warnings_silenced(online_home, tiny_checkpoint, monkeypatch,
                                                                    unpinned):  # fmt: skip
    import logging

    import huggingface_hub

    monkeypatch.setattr(weights, "unreachable_reason", lambda *args, **kwargs: None)
    snapshot = fake_hub_snapshot(online_home / "hub", "osanseviero/BigGAN-deep-128", tiny_checkpoint)
    retry_logger = logging.getLogger("huggingface_hub.utils._http")  # where its "Retrying in 1s" blocks come from
    enabled = []

    def fake_download(repo_id, filename, **kwargs):
        enabled.append(retry_logger.isEnabledFor(logging.WARNING))
        return str(snapshot / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert weights.download("biggan-deep-128") == snapshot
    assert enabled == [False, False]
    assert retry_logger.isEnabledFor(logging.WARNING)  # and restored afterwards


def test_environment_is_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "a"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.offline_mode() is True
    assert weights.hub_cache_dir() == tmp_path / "a" / "hub"
    assert weights.url_cache_dir("biggan-deep-256") == tmp_path / "a" / "ganorama" / "biggan-deep-256"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "b"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert weights.offline_mode() is False
    assert weights.hub_cache_dir() == tmp_path / "b" / "hub"


# --- URL models: cache, integrity -------------------------------------------------------


def test_url_model_resolves_from_offline_cache_with_preplaced_files(offline_home, tiny_checkpoint):
    cached = _copy_checkpoint(tiny_checkpoint, offline_home / "ganorama" / "biggan-deep-256")
    assert resolve_checkpoint_dir("biggan-deep-256") == cached
    # First use records a sha256 beside each file, in sha256sum format.
    recorded = (cached / (WEIGHTS_NAME + ".sha256")).read_text().split()
    assert recorded == [hashlib.sha256((cached / WEIGHTS_NAME).read_bytes()).hexdigest(), WEIGHTS_NAME]
    assert resolve_checkpoint_dir("biggan-deep-256") == cached


def test_corrupted_url_cache_file_is_reported_with_the_file_to_delete(offline_home, tiny_checkpoint):
    cached = _copy_checkpoint(tiny_checkpoint, offline_home / "ganorama" / "biggan-deep-512")
    resolve_checkpoint_dir("biggan-deep-512")  # records the sha256s
    data = bytearray((cached / WEIGHTS_NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (cached / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(GanoramaError) as caught:
        resolve_checkpoint_dir("biggan-deep-512")
    message = str(caught.value)
    _assert_one_line(message)
    assert f"delete {cached / WEIGHTS_NAME}" in message and "corrupted" in message


def test_url_model_offline_with_empty_cache_is_one_line_error_without_any_request(offline_home, monkeypatch):
    def no_urlopen(*args, **kwargs):
        raise AssertionError("offline mode must not open URLs")

    monkeypatch.setattr(weights.urllib.request, "urlopen", no_urlopen)
    with pytest.raises(GanoramaError) as caught:
        weights.download("biggan-deep-256")
    message = str(caught.value)
    _assert_one_line(message)
    assert "HF_HUB_OFFLINE=1" in message and "--weights" in message
    assert str(offline_home / "ganorama" / "biggan-deep-256") in message


# --- URL models: resumable download ------------------------------------------------------


def test_fetch_url_resumes_a_partial_file_with_a_range_request(file_server, tmp_path):
    data = _payload(300_000)
    file_server.files["/model.bin"] = data
    destination = tmp_path / "cache" / WEIGHTS_NAME
    destination.parent.mkdir()
    (tmp_path / "cache" / (WEIGHTS_NAME + ".incomplete")).write_bytes(data[:100_000])

    fetch_url(file_server.url + "/model.bin", destination, progress=False, timeout=5)

    assert file_server.requests == [("/model.bin", "bytes=100000-")]
    assert destination.read_bytes() == data
    assert not (tmp_path / "cache" / (WEIGHTS_NAME + ".incomplete")).exists()
    assert (tmp_path / "cache" / (WEIGHTS_NAME + ".sha256")).read_text().split()[0] == hashlib.sha256(data).hexdigest()


def test_fetch_url_starts_over_when_the_server_ignores_range(file_server, tmp_path):
    data = _payload(50_000, seed=1)
    file_server.files["/f"] = data
    file_server.honour_range = False
    (tmp_path / "f.incomplete").write_bytes(b"x" * 10_000)
    fetch_url(file_server.url + "/f", tmp_path / "f", progress=False, timeout=5)
    assert file_server.requests == [("/f", "bytes=10000-")]
    assert (tmp_path / "f").read_bytes() == data


def test_fetch_url_completes_when_the_partial_file_already_holds_everything(file_server, tmp_path):
    data = _payload(20_000, seed=2)
    file_server.files["/f"] = data
    (tmp_path / "f.incomplete").write_bytes(data)  # interrupted after the last byte, before the rename
    fetch_url(file_server.url + "/f", tmp_path / "f", progress=False, timeout=5)
    assert file_server.requests == [("/f", "bytes=20000-")]  # answered 416, nothing fetched again
    assert (tmp_path / "f").read_bytes() == data


def test_fetch_url_size_check_catches_a_truncated_body_and_the_next_run_resumes(file_server, tmp_path):
    data = _payload(200_000, seed=3)
    file_server.files["/model.bin"] = data
    file_server.truncate_to = 70_000
    destination = tmp_path / WEIGHTS_NAME
    partial = tmp_path / (WEIGHTS_NAME + ".incomplete")

    with pytest.raises(GanoramaError, match=r"truncated \(70000 of 200000 bytes") as caught:
        fetch_url(file_server.url + "/model.bin", destination, progress=False, timeout=5)
    _assert_one_line(str(caught.value))
    assert not destination.exists()
    assert partial.read_bytes() == data[:70_000]

    file_server.truncate_to = None
    fetch_url(file_server.url + "/model.bin", destination, progress=False, timeout=5)
    assert file_server.requests[-1] == ("/model.bin", "bytes=70000-")
    assert destination.read_bytes() == data and not partial.exists()


def test_download_from_urls_fetches_an_injected_source_into_a_loadable_directory(file_server, tmp_path,
                                                                                 tiny_checkpoint, tiny_expected):
    file_server.files["/c.json"] = (tiny_checkpoint / CONFIG_NAME).read_bytes()
    file_server.files["/w.bin"] = (tiny_checkpoint / WEIGHTS_NAME).read_bytes()
    source = UrlSource("tiny", file_server.url + "/c.json", file_server.url + "/w.bin")
    directory = download_from_urls(source, tmp_path / "tiny", offline=False, progress=False, timeout=5)
    assert sorted(p.name for p in directory.iterdir()) == [
        CONFIG_NAME, CONFIG_NAME + ".sha256", WEIGHTS_NAME, WEIGHTS_NAME + ".sha256"]
    _assert_same_model(BigGAN.from_pretrained(directory), tiny_expected)
    # A second call uses the cache: no new request.
    requests = len(file_server.requests)
    download_from_urls(source, tmp_path / "tiny", offline=False, progress=False, timeout=5)
    assert len(file_server.requests) == requests


def test_http_error_is_one_line_error_with_weights_hint(file_server, tmp_path):
    with pytest.raises(GanoramaError, match="HTTP 404") as caught:
        fetch_url(file_server.url + "/missing", tmp_path / "f", progress=False, timeout=5, label="biggan-deep-256")
    _assert_one_line(str(caught.value))
    assert "--weights" in str(caught.value) and not (tmp_path / "f").exists()


def test_unreachable_server_is_one_line_error_with_weights_hint(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GanoramaError) as caught:
        fetch_url(f"http://127.0.0.1:{port}/f", tmp_path / "f", progress=False, timeout=5, label="biggan-deep-256")
    message = str(caught.value)
    _assert_one_line(message)
    assert "cannot download biggan-deep-256" in message and "--weights" in message


# --- safetensors conversion -----------------------------------------------------------------


def test_convert_writes_safetensors_holding_exactly_the_bin_models_folded_weights(tmp_path, tiny_checkpoint,
                                                                                   tiny_expected):
    directory = _copy_checkpoint(tiny_checkpoint, tmp_path / "ckpt")
    written = convert_to_safetensors(directory)
    assert written == directory / SAFETENSORS_NAME and written.is_file()
    from safetensors import safe_open

    with safe_open(str(written), framework="pt") as handle:
        assert not any(key.endswith(("weight_orig", "weight_u")) for key in handle.keys())  # folded
    from_safetensors = BigGAN.from_pretrained(directory)  # prefers model.safetensors
    _assert_same_model(from_safetensors, tiny_expected)


def test_convert_refuses_to_overwrite_an_existing_safetensors(tmp_path, tiny_checkpoint):
    directory = _copy_checkpoint(tiny_checkpoint, tmp_path / "ckpt")
    written = convert_to_safetensors(directory)
    before = written.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        convert_to_safetensors(directory)
    assert written.read_bytes() == before


def test_loading_a_converted_checkpoint_never_calls_torch_load(tmp_path, tiny_checkpoint, monkeypatch, tiny_expected):
    written = convert_to_safetensors(tiny_checkpoint, output=tmp_path / "out")
    assert sorted(p.name for p in written.parent.iterdir()) == [CONFIG_NAME, SAFETENSORS_NAME]
    assert (tmp_path / "out" / CONFIG_NAME).read_bytes() == (tiny_checkpoint / CONFIG_NAME).read_bytes()

    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load must not be called for model.safetensors")

    monkeypatch.setattr(torch, "load", no_pickle)
    config, state_dict = read_checkpoint(tmp_path / "out")
    model = BigGAN.from_pretrained(tmp_path / "out")
    assert config.output_dim == 32 and state_dict
    monkeypatch.undo()
    _assert_same_model(model, tiny_expected)


def test_convert_to_an_output_directory_refuses_a_different_config_there(tmp_path, tiny_checkpoint):
    output = tmp_path / "out"
    output.mkdir()
    (output / CONFIG_NAME).write_text("{}")
    with pytest.raises(UsageError, match="differs"):
        convert_to_safetensors(tiny_checkpoint, output=output)
    assert not (output / SAFETENSORS_NAME).exists()
