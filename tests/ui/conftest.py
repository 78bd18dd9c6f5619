"""A real ``ganorama ui`` server in a subprocess and a real headless Chromium driving it.

The server runs ``python -m ganorama ui`` on the tiny random-weight *test fixture* in its
own process group, with its own empty HOME, TMPDIR and working directory (so a test can
see what it wrote), and is stopped by signalling that group. The browser is Debian's
chromium driven by Playwright's Python package (``playwright install`` is not needed).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from browsers import playwright_chromium

SERVER_START_TIMEOUT = 120.0  # seconds: importing gradio and torch on a busy 2-core CPU
SERVER_STOP_TIMEOUT = 30.0
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UiServer:
    """``python -m ganorama ui`` in its own process group, with private HOME, TMPDIR and cwd."""

    def __init__(self, weights: Path, folder: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.home, self.tmp, self.cwd = (folder / "home", folder / "tmp", folder / "cwd")
        for directory in (self.home, self.tmp, self.cwd):
            directory.mkdir(parents=True)
        self.log_path = folder / "server.log"
        env = {**os.environ, "HOME": str(self.home), "TMPDIR": str(self.tmp), "HF_HUB_OFFLINE": "1",
               **(extra_env or {})}  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ganorama", "ui", "--weights", str(weights), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches every child
            )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_until_ready(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ganorama ui exited with {self.process.returncode}: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"ganorama ui did not answer in {timeout} s: {self.log()[-3000:]}")

    def stop(self, timeout: float = SERVER_STOP_TIMEOUT) -> int | None:
        """SIGTERM to the group (the server cleans up and exits), SIGKILL if it does not;
        returns the server's exit status."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything left in the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        return self.process.returncode


@pytest.fixture()
def unused_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def ui_server(tiny_checkpoint, tmp_path_factory):
    server = UiServer(tiny_checkpoint, tmp_path_factory.mktemp("ui-server"))
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


def gradio_before_its_first_start(folder: Path) -> Path:
    """A site folder holding the installed gradio as it is before its first start: each of
    its entries linked, but no hash_seed.txt (which gradio writes beside its code at the
    first import). Returns the folder to put first on PYTHONPATH."""
    import importlib.util

    installed = Path(importlib.util.find_spec("gradio").origin).parent
    copy = folder / "gradio"
    copy.mkdir(parents=True)
    for entry in installed.iterdir():
        if entry.name != "hash_seed.txt":
            (copy / entry.name).symlink_to(entry)
    return folder


@pytest.fixture()
def own_ui_server(tiny_checkpoint, tmp_path):
    """A server of the test's own, for a test that stops it (the group is killed anyway),
    on a gradio that has never started (see gradio_before_its_first_start)."""
    site = gradio_before_its_first_start(tmp_path / "site")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    server = UiServer(tiny_checkpoint, tmp_path / "own-server",
                      extra_env={"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    server.site = site
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    yield from playwright_chromium("the UI's browser tests")
